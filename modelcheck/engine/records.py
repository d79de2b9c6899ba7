"""Records shared by the engine's stages: a file job, its result, run statistics, error reports."""

from __future__ import annotations

import traceback
from dataclasses import dataclass

from modelcheck.config.settings import Settings
from modelcheck.diagnostics import ErrorInfo, FileMessage, ModelReport
from modelcheck.errors import ModelcheckError
from modelcheck.load.discovery import FileScan, SourceFile

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
    peak_mb: float = 0.0  # the largest peak RSS of a process that linted (a worker; this one in-process)

    def reset(self) -> None:
        self.files = self.linted = self.cached = 0
        self.seconds = self.peak_mb = 0.0


LAST_RUN = RunStats()


def error_info(exc: BaseException, settings: Settings) -> ErrorInfo:
    """The one line (and, with ``--debug``, the traceback) of an error report."""
    tb = "".join(traceback.format_exception(exc)) if settings.debug else None
    if isinstance(exc, ModelcheckError):
        return ErrorInfo(exc.code, str(exc), tb)
    try:
        text = str(exc).strip()
    except Exception:  # an exception whose __str__ raises
        text = ""
    first = text.splitlines()[0] if text else ""
    return ErrorInfo(
        "internal",
        f"internal error: {type(exc).__name__}: {first} (this is a bug in modelcheck; rerun with --debug and report it)",
        tb,
    )


def file_error(display: str, exc: BaseException, settings: Settings) -> FileResult:
    return (ModelReport(file=display, model=FILE_MODEL, status="error", error=error_info(exc, settings)),), ()
