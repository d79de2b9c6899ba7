"""Small frozen records that flow from the rules to the reporters.

    Finding      one problem: rule code/name, severity, message, where (module, file:line), fix, numbers
    Metrics      the numbers every model report carries (SPEC §2)
    ModelReport  everything known about one model of one file
    RuleMeta     what the reporters need to know of a rule (so that rendering never loads a plugin)
    RunReport    a whole ``modelcheck lint`` run
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any, Mapping


class Severity(str, enum.Enum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __ge__(self, other: object) -> bool:  # type: ignore[override]
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank >= other.rank

    def __gt__(self, other: object) -> bool:  # type: ignore[override]
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank > other.rank

    def __le__(self, other: object) -> bool:  # type: ignore[override]
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank <= other.rank

    def __lt__(self, other: object) -> bool:  # type: ignore[override]
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}


class ProbeVerdict(str, enum.Enum):
    CONFIRMED = "confirmed"
    NOT_CONFIRMED = "not-confirmed"


@dataclass(frozen=True)
class Finding:
    """One diagnostic. ``numbers`` holds the measured/predicted values behind the message."""

    rule: str  # code, e.g. "MC301"
    name: str  # kebab-case rule name
    severity: Severity
    message: str
    module: str | None = None  # module path ("layers.29"); None = the whole model
    file: str | None = None  # file the line belongs to (the model file, or a library file)
    line: int | None = None
    fix: str | None = None  # what to do, one sentence
    numbers: Mapping[str, float] = field(default_factory=dict)
    probe: ProbeVerdict | None = None
    # The layers the cause spans, as positions in the graph's execution order (first, last); None =
    # the whole model. Lets findings of one root cause on the same layers be told apart from others.
    span: tuple[int, int] | None = None
    related: tuple[Finding, ...] = ()  # the same root cause seen by other rules (issue 11)

    def with_(self, **changes: Any) -> Finding:
        return replace(self, **changes)


@dataclass(frozen=True)
class Metrics:
    forward_gain: float | None = None
    backward_gain: float | None = None
    lipschitz_upper_bound: float | None = None


@dataclass(frozen=True)
class ModuleBound:
    """A module's own Lipschitz constant (ℓ2), as the lipschitz pass bounded it."""

    module: str
    bound: float
    method: str  # "gram", "conv:fft", "conv:reshape+bn", "norm-local", "estimate:bai-yin", ...
    certified: bool  # False for analytic estimates (meta device)


@dataclass(frozen=True)
class LayerStat:
    """One row of the per-layer profile: predicted (and optionally measured) RMS at a node."""

    label: str  # module path or node name
    activation_rms: float | None
    gradient_rms: float | None
    measured_activation_rms: float | None = None
    measured_gradient_rms: float | None = None


@dataclass(frozen=True)
class ErrorInfo:
    code: str
    message: str
    traceback: str | None = None  # only with --debug


@dataclass(frozen=True)
class ModelReport:
    file: str
    model: str
    status: str = "ok"  # "ok" | "error"
    error: ErrorInfo | None = None
    metrics: Metrics = Metrics()
    findings: tuple[Finding, ...] = ()
    tracer: str | None = None
    num_parameters: int | None = None
    input_source: str | None = None  # where the example inputs came from (SPEC §1)
    notes: tuple[str, ...] = ()  # skipped analyses, tracer fallbacks, ...
    profile: tuple[LayerStat, ...] = ()
    seconds: float | None = None
    suppressed: int = 0  # findings silenced by noqa comments
    lipschitz_reason: str | None = None  # why ``metrics.lipschitz_upper_bound`` is None ("softmax attention", ...)
    module_bounds: tuple[ModuleBound, ...] = ()  # each module's own Lipschitz bound, largest first
    measured: Metrics | None = None  # the probe's measured gains, shown beside the predicted ones
    probe_device: str | None = None  # where the probe ran ("cpu", "cuda:0")
    probe_summary: Mapping[str, Any] | None = None  # JSON-safe (``ProbeResult.summary()``), passed through to JSON
    internal_tracebacks: tuple[str, ...] = ()  # our own failures inside passes or rules (``--debug``)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)


@dataclass(frozen=True)
class FileMessage:
    """A file-level line that is not a model report (skipped class, no models found, ...)."""

    file: str
    severity: Severity
    message: str
    skipped: tuple[str, ...] = ()  # the model classes this line says were not linted
    skip: bool = False  # a skip line (classes not linted, file not imported): no annotation, counted apart


@dataclass(frozen=True)
class RuleMeta:
    """A rule as the reporters see it: identity, default severity and documentation, no code."""

    code: str
    name: str
    severity: Severity
    doc: str = ""
    origin: str = ""  # the module that defined it ("modelcheck_rules.signal.depth_vanishing")
    requires: tuple[str, ...] = ()
    options: Mapping[str, bool | int | float | str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunReport:
    models: tuple[ModelReport, ...] = ()
    messages: tuple[FileMessage, ...] = ()
    rules: tuple[RuleMeta, ...] = ()  # every installed rule, when the run loaded them

    def count(self, severity: Severity) -> int:
        return sum(m.count(severity) for m in self.models)

    @property
    def analysed(self) -> int:
        return sum(1 for m in self.models if m.status == "ok")

    @property
    def failed(self) -> int:
        """Models (not whole files) that could not be analysed."""
        return sum(1 for m in self.models if m.status != "ok" and m.model != "<file>")

    @property
    def skipped_files(self) -> int:
        return len({m.file for m in self.messages if m.skip})

    @property
    def none_analysed(self) -> bool:
        """Model classes were found (and skipped) but no model was analysed: not a pass."""
        return self.analysed == 0 and self.skipped_files > 0

    @property
    def tool_errors(self) -> int:
        """Files and models that could not be analysed, error lines, and crashes inside rules (MC000):
        a crash of the tool is never counted as a finding of the user's model."""
        return (
            sum(1 for m in self.models if m.status != "ok")
            + sum(1 for m in self.messages if m.severity is Severity.ERROR)
            + sum(1 for m in self.models for f in m.findings if f.rule == "MC000")
        )
