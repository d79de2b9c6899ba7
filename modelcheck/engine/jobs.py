"""``--jobs N``: lint files in N worker processes.

Workers are spawned, never forked (torch's thread pools do not survive a fork), each loads the rules
once and splits the CPU cores with the others. Results come back in the order of the files, so the
report does not depend on which worker finished first; a worker that dies takes only its file down.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from modelcheck.config.settings import Settings
from modelcheck.engine.file import lint_file
from modelcheck.engine.records import LAST_RUN, FileJob, FileResult, file_error
from modelcheck.errors import ModelcheckError
from modelcheck.registry import RuleSet, load_rules

_RULES: RuleSet | None = None  # per worker process


def _init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _work(job: FileJob, settings: Settings) -> tuple[FileResult, int, int]:
    """Lint one file; also return this file's (linted, cached) counts for the parent's statistics."""
    global _RULES
    if _RULES is None:
        _RULES = load_rules()
    linted, cached = LAST_RUN.linted, LAST_RUN.cached
    result = lint_file(job, settings, _RULES)
    return result, LAST_RUN.linted - linted, LAST_RUN.cached - cached


def lint_in_workers(jobs: list[FileJob], settings: Settings) -> list[FileResult]:
    workers = min(settings.jobs, len(jobs))
    threads = max(1, (os.cpu_count() or 1) // workers)
    ctx = multiprocessing.get_context("spawn")
    results: list[FileResult] = []
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init, initargs=(threads,)) as pool:
        futures = [pool.submit(_work, job, settings) for job in jobs]
        for job, fut in zip(jobs, futures, strict=True):
            try:
                result, linted, cached = fut.result()
                results.append(result)
                LAST_RUN.linted += linted
                LAST_RUN.cached += cached
            except Exception as exc:  # the worker died (segfault, OOM kill) or could not pickle
                err = ModelcheckError(f"the worker process linting this file failed: {type(exc).__name__}: {exc}")
                results.append(file_error(job.src.display, err, settings))
    return results
