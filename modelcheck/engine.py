"""The lint run: paths in, a :class:`~modelcheck.diagnostics.RunReport` out.

    lint_paths ─► collect files ─► AST pre-scan (no torch) ─► per file (cache, or a worker):
        import ─► pick models ─► per model (modelcheck.analyze): build ─► inputs ─► trace
        ─► passes ─► rules ─► probe ─► # noqa ─► ModelReport

Every failure a user can cause becomes an error report of its own file or model and the run goes
on; only usage and configuration errors (``UsageError``) stop it, before anything is linted.
Nothing here prints: rendering is the command line's last step.
"""

from __future__ import annotations

import contextlib
import fnmatch
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from modelcheck.config import Settings
from modelcheck.diagnostics import ErrorInfo, FileMessage, ModelReport, RunReport, Severity
from modelcheck.discovery import FileScan, SourceFile, collect_files, scan_file
from modelcheck.errors import FileError, MissingPathError, ModelcheckError, SyntaxFileError
from modelcheck.registry import RuleSet, load_rules
from modelcheck.rule import Rule

FILE_MODEL = "<file>"  # the model name of a report about a whole file (it could not be imported)
FileResult = tuple[tuple[ModelReport, ...], tuple[FileMessage, ...]]
NO_MODELS = "no models found: no nn.Module subclass or factory function is defined here"


@dataclass(frozen=True)
class FileJob:
    """One file to import and lint; picklable, so it can go to a worker process."""

    src: SourceFile
    scan: FileScan
    names: tuple[str, ...] = ()  # the --model names this file defines


@dataclass
class RunStats:
    """What the last run did in this process, for ``--debug`` (workers of ``--jobs`` keep their own)."""

    files: int = 0  # files found
    linted: int = 0  # files imported and linted
    cached: int = 0  # files served from the cache
    seconds: float = 0.0

    def reset(self) -> None:
        self.files = self.linted = self.cached = 0
        self.seconds = 0.0


LAST_RUN = RunStats()


def lint_paths(paths: Sequence[str], settings: Settings, *, rules: RuleSet | None = None) -> RunReport:
    """Lint every model of every file under ``paths``.

    ``UsageError`` (bad selectors, duplicate rule codes) propagates; anything about a single file
    or model ends up in the report.
    """
    t0 = time.perf_counter()
    LAST_RUN.reset()
    files, missing = collect_files(paths, exclude=settings.exclude, root=settings.root)
    slots: list[FileResult | FileJob] = [
        file_error(m, MissingPathError("no such file or directory", hint="check the path"), settings)
        for m in missing
    ]
    found_names: set[str] = set()
    for src in files:
        item = _prepare(src, settings)
        if isinstance(item, FileJob):
            found_names.update(item.names)
        if item is not None:
            slots.append(item)
    jobs = [s for s in slots if isinstance(s, FileJob)]
    messages: list[FileMessage] = []
    if jobs:
        rules = rules if rules is not None else load_rules()
        validate_selection(rules, settings)
        messages += [FileMessage(p.source, Severity.ERROR, f"rule plugin failed to load: {p.message}") for p in rules.problems]
        results = iter(_run_jobs(jobs, settings, rules))
        slots = [next(results) if isinstance(s, FileJob) else s for s in slots]
    for name in settings.model_names:
        if name not in found_names:
            where = ", ".join(paths) or "."
            messages.append(FileMessage(where, Severity.ERROR, f"--model {name}: no class or function named {name!r} in {where}"))
    models = [m for s in slots if not isinstance(s, FileJob) for m in s[0]]
    messages = [m for s in slots if not isinstance(s, FileJob) for m in s[1]] + messages
    LAST_RUN.files, LAST_RUN.seconds = len(files), time.perf_counter() - t0
    return RunReport(tuple(models), tuple(messages))


def _prepare(src: SourceFile, settings: Settings) -> FileJob | FileResult | None:
    """Scan one file: a job to run, an error/info result, or None to skip it silently."""
    try:
        scan = scan_file(src.path, src.display)
    except SyntaxFileError as exc:
        return file_error(src.display, exc, settings)
    except OSError as exc:
        return file_error(src.display, FileError(f"cannot read the file: {exc.strerror}"), settings)
    if settings.model_names:
        # A file named explicitly may offer an imported name; a file found in a folder only its own
        # definitions (else every script importing Net would lint Net again).
        defined = scan.names if src.explicit else scan.lines.keys()
        names = tuple(n for n in settings.model_names if n in defined)
        return FileJob(src, scan, names) if names else None
    if scan.may_define_models:
        return FileJob(src, scan)
    if settings.verbose and src.explicit:
        return (), (FileMessage(src.display, Severity.INFO, NO_MODELS),)
    return None


def validate_selection(rules: RuleSet, settings: Settings) -> None:
    """Raise ``ConfigError`` for a selector or severity key that matches no rule."""
    rules.select(settings.select, settings.ignore, settings.extend_select)
    rules.severities(settings.severity)
    for _, codes in settings.per_file_ignores:
        rules.select(("ALL",), codes)


def rules_for(src: SourceFile, settings: Settings, rules: RuleSet) -> tuple[Rule, ...]:
    """The rules enabled for this file: selection minus the matching per-file ignores."""
    ignore = list(settings.ignore)
    for pattern, codes in settings.per_file_ignores:
        if _path_matches(src, pattern, settings.root):
            ignore.extend(codes)
    return rules.select(settings.select, ignore, settings.extend_select)


def _path_matches(src: SourceFile, pattern: str, root: Path) -> bool:
    names = [src.display, src.path.name]
    if src.path.is_relative_to(root):
        names.append(src.path.relative_to(root).as_posix())
    return any(fnmatch.fnmatch(n, pattern) for n in names)


def _run_jobs(jobs: list[FileJob], settings: Settings, rules: RuleSet) -> list[FileResult]:
    if settings.jobs > 1 and len(jobs) > 1:
        from modelcheck.parallel import lint_in_workers

        return lint_in_workers(jobs, settings)
    return [lint_file(job, settings, rules) for job in jobs]


def lint_file(job: FileJob, settings: Settings, rules: RuleSet) -> FileResult:
    """Lint one file's models, through the cache when it is on."""
    cache = key = None
    if settings.cache:
        from modelcheck.cache import Cache

        cache = Cache(settings)
        key = cache.key(job.src, job.scan)
        hit = cache.get(key)
        if hit is not None:
            LAST_RUN.cached += 1
            return hit
    from modelcheck.analyze import lint_module_file  # imports torch: only now is it needed

    LAST_RUN.linted += 1
    # stdout belongs to the report (JSON, SARIF): whatever the user's code prints goes to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        result = lint_module_file(job, settings, rules)
    if cache is not None and key is not None and not _has_tool_error(result):
        cache.put(key, result)
    return result


def _has_tool_error(result: FileResult) -> bool:
    models, messages = result
    return any(m.status != "ok" for m in models) or any(m.severity is Severity.ERROR for m in messages)


def error_info(exc: BaseException, settings: Settings) -> ErrorInfo:
    """The one line (and, with ``--debug``, the traceback) of an error report."""
    tb = "".join(traceback.format_exception(exc)) if settings.debug else None
    if isinstance(exc, ModelcheckError):
        return ErrorInfo(exc.code, str(exc), tb)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return ErrorInfo(
        "internal",
        f"internal error: {type(exc).__name__}: {first} (this is a bug in modelcheck; rerun with --debug and report it)",
        tb,
    )


def file_error(display: str, exc: BaseException, settings: Settings) -> FileResult:
    return (ModelReport(file=display, model=FILE_MODEL, status="error", error=error_info(exc, settings)),), ()

