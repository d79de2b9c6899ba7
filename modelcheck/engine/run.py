"""The lint run: paths in, a :class:`~modelcheck.diagnostics.RunReport` out.

    lint_paths ─► collect files ─► AST pre-scan (no torch) ─► per file (cache, or a forked worker):
        import ─► pick models ─► per model (modelcheck.engine.model): build ─► inputs ─► trace
        ─► passes ─► rules ─► probe ─► # noqa ─► ModelReport

Every failure a user can cause becomes an error report of its own file or model and the run goes
on; only usage and configuration errors (``UsageError``) stop it, before anything is linted.
Nothing here prints: rendering is the command line's last step.
"""

from __future__ import annotations

import time
from typing import Sequence

from modelcheck.config.settings import Settings
from modelcheck.diagnostics import FileMessage, ModelReport, RuleMeta, RunReport, Severity
from modelcheck.engine.jobs import isolation_available, rule_catalog, run_jobs
from modelcheck.engine.prestart import plan_warm_up
from modelcheck.engine.records import (
    LAST_RUN,
    NO_MODELS,
    FileJob,
    FileResult,
    file_error,
)
from modelcheck.errors import FileError, MissingPathError, SyntaxFileError
from modelcheck.load.discovery import FileScan, SourceFile, collect_files, scan_file
from modelcheck.load.toplevel import NEVER_IMPORTED
from modelcheck.registry import RuleSet


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
    metadata: tuple[RuleMeta, ...] = ()
    if jobs:
        # The rules' metadata only (the cache's copy, else a worker's): the parent imports no rule
        # plugin and no torch; the rules run in the workers, or here when the caller brought its own.
        if rules is None and not isolation_available():
            from modelcheck.registry import load_rules

            rules = load_rules()  # no fork server on this platform (Windows): lint in this process
        plan_warm_up(len(jobs))
        catalog = rules if rules is not None else rule_catalog(settings)
        metadata = tuple(r.meta for r in catalog.all)
        validate_selection(catalog, settings)
        messages += [FileMessage(p.source, Severity.ERROR, f"rule plugin failed to load: {p.message}") for p in catalog.problems]
        results = iter(run_jobs(jobs, settings, rules))
        slots = [next(results) if isinstance(s, FileJob) else s for s in slots]
    for name in settings.model_names:
        if name not in found_names:
            where = ", ".join(paths) or "."
            messages.append(FileMessage(where, Severity.ERROR, f"--model {name}: no class or function named {name!r} in {where}"))
    models = [m for s in slots if not isinstance(s, FileJob) for m in s[0]]
    messages = [m for s in slots if not isinstance(s, FileJob) for m in s[1]] + messages
    models, grouped = group_missing_packages(models)
    messages = drop_building_blocks(messages, jobs) + grouped
    LAST_RUN.files, LAST_RUN.seconds = len(files), time.perf_counter() - t0
    return RunReport(tuple(models), tuple(messages), metadata)


def drop_building_blocks(messages: list[FileMessage], jobs: list[FileJob]) -> list[FileMessage]:
    """A file's skip line goes when every class it names is imported by name by another file of the
    run: those are building blocks (``layers.py``'s ``Block``) that the models there build."""
    imported_by: dict[str, set[str]] = {}
    for job in jobs:
        for ref in job.scan.imports:
            for name in ref.names:
                imported_by.setdefault(name, set()).add(job.src.display)
    return [
        m
        for m in messages
        if not (
            m.skip
            and m.message.startswith("skipped ")
            and m.skipped
            and all(imported_by.get(n, set()) - {m.file} for n in m.skipped)
        )
    ]


MISSING_PACKAGES = "missing packages: "  # how MissingPackageError's message starts


def group_missing_packages(models: list[ModelReport]) -> tuple[list[ModelReport], list[FileMessage]]:
    """Files that failed to import for missing third-party packages: one grouped error line
    ("missing packages: a, b (needed by 3 files: ...)") instead of one per file, when several."""
    failed = [m for m in models if m.error is not None and m.error.message.startswith(MISSING_PACKAGES)]
    if len(failed) < 2:
        return models, []
    packages: set[str] = set()
    for m in failed:
        assert m.error is not None
        listed = m.error.message.removeprefix(MISSING_PACKAGES).split(" (", 1)[0]
        packages.update(p.strip() for p in listed.split(","))
    files = ", ".join(m.file for m in failed[:3]) + (", ..." if len(failed) > 3 else "")
    line = FileMessage(
        ".", Severity.ERROR,
        f"missing packages: {', '.join(sorted(packages))} (needed by {len(failed)} files: {files}); install them",
    )  # fmt: skip
    return [m for m in models if m not in failed], [line]


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
        return (not_imported(src, scan, settings) or FileJob(src, scan, names)) if names else None
    if scan.may_define_models:
        return not_imported(src, scan, settings) or FileJob(src, scan)
    if settings.verbose and src.explicit:
        return (), (FileMessage(src.display, Severity.INFO, NO_MODELS),)
    return None


def not_imported(src: SourceFile, scan: FileScan, settings: Settings) -> FileResult | None:
    """A file that must not be imported (decided on the AST): packaging and test configuration
    never, a script with top-level code unless ``--import-scripts``. One info line, or none for
    ``setup.py``/``conftest.py`` found in a folder."""
    if src.path.name in NEVER_IMPORTED:
        if not src.explicit:
            return (), ()
        return (), (FileMessage(src.display, Severity.INFO, f"not imported: {src.path.name} is never imported", skip=True),)
    if scan.script_line is not None and not settings.import_scripts:
        return (), (
            FileMessage(
                src.display,
                Severity.INFO,
                f"not imported: top-level code at line {scan.script_line} (--import-scripts imports it)",
                skipped=scan.classes,
                skip=True,
            ),
        )
    return None


def validate_selection(rules: RuleSet, settings: Settings) -> None:
    """Raise ``ConfigError`` for a selector, severity key or rule option that matches no rule, and for an
    option value of the wrong type: the configuration is checked before anything is linted."""
    rules.select(settings.select, settings.ignore, settings.extend_select)
    rules.severities(settings.severity)
    rules.check_options(settings.options)
    for _, codes in settings.per_file_ignores:
        rules.select(("ALL",), codes)
