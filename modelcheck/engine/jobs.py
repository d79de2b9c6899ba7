"""Running the files' jobs: through the cache, then in isolated workers (or in this process).

    jobs ─► cache (stat + hash, no torch) ─► hits: stored reports
                                          └► misses ─► one forked worker per file (modelcheck.engine.pool)
                                                       ─► reports ─► cache (clean results only)

The command line always isolates: every file runs in a fork of the zygote, whatever ``--jobs`` says,
so a file that exits, crashes or hangs takes only its own line down. A caller that passes its own
:class:`RuleSet` (tests, the API) runs the files in this process instead: the rules live here.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Sequence

from modelcheck.config.settings import Settings
from modelcheck.engine import codec
from modelcheck.engine.catalog import catalog_rules
from modelcheck.engine.records import LAST_RUN, FileJob, FileResult, file_error
from modelcheck.errors import WorkerError
from modelcheck.registry import RuleSet


def isolation_available() -> bool:
    """Whether files can run in forked workers (a fork server needs ``fork``: not on Windows)."""
    import multiprocessing

    return "forkserver" in multiprocessing.get_all_start_methods()


def _cache(settings: Settings) -> Any:
    if not settings.cache:
        return None
    from modelcheck.engine.cache import Cache

    return Cache(settings)


def rule_catalog(settings: Settings) -> RuleSet:
    """The installed rules' metadata, without importing them here: from the cache, else a worker.

    The rules come back as :class:`Rule` records without their check code: enough to validate the
    selection and the options and to render the report."""
    cache = _cache(settings)
    data = cache.get_rules() if cache is not None else None
    if data is None:
        from modelcheck.engine import pool
        from modelcheck.engine.worker import Request, rule_sources

        request = Request("rules", settings, dict(os.environ), rule_sources=rule_sources())
        (outcome,) = pool.run([request], workers=1, timeout=settings.timeout)
        if outcome.message is None or outcome.message.get("kind") != "rules":
            from modelcheck.registry import load_rules  # the worker could not: load them here

            return load_rules()
        data = outcome.message["rules"]
        if cache is not None and not data.get("problems"):
            cache.put_rules(data)
    try:
        return catalog_rules(data)
    except (codec.DecodeError, KeyError, TypeError, ValueError):
        from modelcheck.registry import load_rules

        return load_rules()


def run_jobs(jobs: Sequence[FileJob], settings: Settings, rules: RuleSet | None) -> list[FileResult]:
    """Each job's result, in order. ``rules`` given: in this process; None: in workers."""
    cache = _cache(settings)
    keys: list[str | None] = [None] * len(jobs)
    results: list[FileResult | None] = [None] * len(jobs)
    if cache is not None:
        for i, job in enumerate(jobs):
            keys[i] = cache.key(job.src, job.scan)
            results[i] = cache.get(keys[i])
            if results[i] is not None:
                LAST_RUN.cached += 1
    todo = [i for i, r in enumerate(results) if r is None]
    if not todo:
        return [r for r in results if r is not None]
    LAST_RUN.linted += len(todo)
    if rules is not None:
        done = [_in_process(jobs[i], settings, rules) for i in todo]
        LAST_RUN.peak_mb = max(LAST_RUN.peak_mb, _own_peak())
    else:
        done = _in_workers([jobs[i] for i in todo], settings)
    for i, (result, deps) in zip(todo, done):
        results[i] = result
        if cache is not None and keys[i] is not None:
            cache.put(keys[i], result, deps)
    return [r for r in results if r is not None]  # every slot is filled by now


def _own_peak() -> float:
    from modelcheck.engine import sandbox

    return sandbox.peak_rss_mb() or 0.0


def _in_process(job: FileJob, settings: Settings, rules: RuleSet) -> tuple[FileResult, dict[str, Any] | None]:
    from modelcheck.engine import sandbox
    from modelcheck.engine.file import lint_module_file  # imports torch: only now is it needed

    recorder = sandbox.Recorder(settings.root)
    try:
        # stdout belongs to the report (JSON, SARIF): whatever the user's code prints goes to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            result = lint_module_file(job, settings, rules)
    finally:
        deps = recorder.finish(job.src.path)
    return result, deps.as_data()


def _in_workers(jobs: list[FileJob], settings: Settings) -> list[tuple[FileResult, dict[str, Any] | None]]:
    from modelcheck.engine import pool
    from modelcheck.engine.worker import Request, rule_sources

    workers = min(settings.jobs, len(jobs))
    threads = max(1, pool.cpu_count() // workers)
    env = dict(os.environ)
    memory = pool.memory_ceiling(workers)
    sources = rule_sources()
    requests = [Request("file", settings, env, job, threads, memory, sources) for job in jobs]
    preload = ("transformers",) if any(_imports(job, "transformers") for job in jobs) else ()
    outcomes = pool.run(requests, workers=workers, timeout=settings.timeout, preload=preload)
    for outcome in outcomes:  # each worker's own peak RSS (the parent's wait cannot see a zygote's fork)
        peak = (outcome.message or {}).get("peak_mb")
        if isinstance(peak, (int, float)):
            LAST_RUN.peak_mb = max(LAST_RUN.peak_mb, float(peak))
    return [_result(job, outcome, settings) for job, outcome in zip(jobs, outcomes)]


def _imports(job: FileJob, top: str) -> bool:
    return any(ref.module.split(".")[0] == top for ref in job.scan.imports)


def _result(job: FileJob, outcome: Any, settings: Settings) -> tuple[FileResult, dict[str, Any] | None]:
    display = job.src.display
    message = outcome.message
    if message is not None and message.get("kind") == "result":
        try:
            models, messages = codec.decode(message["result"])
            return (tuple(models), tuple(messages)), message.get("deps")
        except (codec.DecodeError, KeyError, TypeError, ValueError):
            return file_error(display, WorkerError("the worker sent a result that cannot be read"), settings), None
    if message is not None and message.get("kind") == "escaped":
        what = message.get("error", "an exception")
        err = WorkerError(f"the file's code raised {what}, which ends a process; modelcheck contained it",
                          hint="a model file must not exit or interrupt the process it is imported in")
        return file_error(display, err, settings), None
    return file_error(display, WorkerError(outcome.failure or "the worker gave no result"), settings), None
