"""One file: which rules apply to it, its import and its models (:func:`lint_module_file`).

Runs where the user's code may run: in a forked worker (:mod:`modelcheck.engine.worker`), or in
this process for a caller that brings its own rules. Torch's global state is restored before each
model and after the file, so a file's ``torch.set_grad_enabled(False)`` cannot break its analysis."""

from __future__ import annotations

import contextlib
import fnmatch
import gc
from pathlib import Path
from typing import Iterator

from modelcheck.config.settings import Settings
from modelcheck.diagnostics import FileMessage, ModelReport, Severity
from modelcheck.engine import progress, sandbox
from modelcheck.engine.records import (
    NO_MODELS,
    FileJob,
    FileResult,
    error_info,
    file_error,
)
from modelcheck.engine.sandbox import TorchState
from modelcheck.errors import FileError, UsageError
from modelcheck.load.discovery import SourceFile
from modelcheck.registry import RuleSet
from modelcheck.rule import Rule
from modelcheck.suppress import Suppressor


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


def lint_module_file(job: FileJob, settings: Settings, rules: RuleSet) -> FileResult:
    # Imports torch: only now, with a file to import, is it needed (a cached run never gets here).
    from modelcheck.engine.model import lint_model
    from modelcheck.load import build as loading
    from modelcheck.load.choose import choose_models, skip_messages

    enabled = rules_for(job.src, settings, rules)
    severities = rules.severities(settings.severity)
    display = job.src.display
    reports: list[ModelReport] = []
    messages: list[FileMessage] = []
    state = TorchState.take()  # what the file's top level may change: grad mode, dtype, device, ...
    try:
        with _frozen_heap(), loading.imported(job.src, job.scan.absolute_heads, job.scan.required_heads) as module:
            gc.freeze()  # the file's imports (transformers: ~300k objects) outlive its models
            chosen = choose_models(module, job, settings)
            for name in chosen.missing_names:
                reports.append(_model_error(display, name, f"{name} is not a class or function of this file", settings))
            messages += skip_messages(display, module, chosen, verbose=settings.verbose)
            if not chosen.models and not chosen.missing_names and not chosen.skipped and job.src.explicit:
                messages.append(FileMessage(display, Severity.INFO, NO_MODELS))
            suppressor = Suppressor(job.src.path)
            for choice in chosen.models:
                progress.report("model", name=choice.name)
                state.restore()  # each model starts from torch's defaults, whatever the file set
                reports.append(lint_model(choice, module, job, settings, enabled, severities, suppressor))
            sandbox.capture_modules()  # the cache key: what the file imported, before the import unloads it
    except FileError as exc:
        return file_error(display, exc, settings)
    finally:
        state.restore()
    return tuple(reports), tuple(messages)


@contextlib.contextmanager
def _frozen_heap() -> Iterator[None]:
    """While one file is linted, what outlives each stage (imported modules, the built model) is
    frozen out of the cyclic collector's sight: otherwise each of its full collections rescans the
    ~400k objects torch and transformers leave, ~0.1 s apiece, several times a lint. Unfrozen
    after the file, so nothing a file left behind escapes collection."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _model_error(file: str, model: str, message: str, settings: Settings) -> ModelReport:
    return ModelReport(file=file, model=model, status="error", error=error_info(UsageError(message), settings))
