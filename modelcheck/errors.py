"""The exception tree. Every failure a user can cause becomes one of these, turned into a one-line
message (and an exit code 2) by the CLI; anything else is a bug in modelcheck.

    ModelcheckError                 base; .code is the short id used in JSON ("error.code")
    ├── UsageError                  bad flags or configuration                       (code "usage")
    │   └── ConfigError             a malformed [tool.modelcheck] table              (code "config")
    ├── FileError                   a path that cannot be linted
    │   ├── MissingPathError        the path does not exist                          (code "missing-path")
    │   ├── SyntaxFileError         the file does not parse                          (code "syntax-error")
    │   ├── ImportFileError         importing the file raised                        (code "import-error")
    │   │   └── MissingPackageError third-party packages the file imports are missing (code "import-error")
    │   └── WorkerError             the file's worker died, hung or was ended        (code "worker")
    └── ModelError                  one model of a file cannot be analysed
        ├── ConstructorError        the constructor needs arguments or raised        (code "constructor")
        ├── InputError              no usable example inputs / wrong shape           (code "inputs")
        ├── ForwardError            the forward pass raised on the example inputs    (code "forward")
        ├── TraceError              no tracer could turn the model into a graph      (code "trace")
        ├── WeightsError            NaN/inf in the initial weights                   (code "weights")
        └── HostileError            the model's code tried to end the process        (code "hostile")

A rule that raises is not an error of the user's: the engine reports it as an internal-error
diagnostic ("internal error in rule X, please report") and goes on.
"""

from __future__ import annotations


class ModelcheckError(Exception):
    """Base class. ``str(err)`` is the one line shown to the user."""

    code = "internal"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(ModelcheckError):
    code = "usage"


class ConfigError(UsageError):
    code = "config"


class FileError(ModelcheckError):
    code = "file"


class MissingPathError(FileError):
    code = "missing-path"


class SyntaxFileError(FileError):
    code = "syntax-error"


class ImportFileError(FileError):
    code = "import-error"


class WorkerError(FileError):
    """The worker process linting the file crashed, timed out, or was ended by the file's code."""

    code = "worker"


class MissingPackageError(ImportFileError):
    """Its message starts with ``missing packages: a, b``: a folder run groups these into one line."""

    def __init__(self, message: str, *, hint: str | None = None, packages: tuple[str, ...] = ()) -> None:
        super().__init__(message, hint=hint)
        self.packages = packages


class ModelError(ModelcheckError):
    code = "model"


class ConstructorError(ModelError):
    code = "constructor"


class InputError(ModelError):
    code = "inputs"


class ForwardError(ModelError):
    code = "forward"


class TraceError(ModelError):
    code = "trace"


class WeightsError(ModelError):
    code = "weights"


class HostileError(ModelError):
    """The model's code raised ``SystemExit``, ``KeyboardInterrupt`` or another ``BaseException``."""

    code = "hostile"
