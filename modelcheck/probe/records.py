"""What the probe takes and returns: options, per-step records, and the result.

Every record is a small frozen dataclass of plain Python numbers (no tensors), so a result can be kept,
compared for repeatability, and turned into JSON (:meth:`ProbeResult.summary`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from modelcheck.diagnostics import Finding, LayerStat, Metrics

OPTIMIZERS = ("adam", "adamw", "sgd")


@dataclass(frozen=True)
class ProbeOptions:
    """How the probe trains. The first eight fields are what ``modelcheck lint --probe`` sets."""

    steps: int = 50
    batch_size: int | None = None  # None = the example inputs' batch (dim 0)
    optimizer: str = "adam"  # "adam" | "adamw" | "sgd"
    lr: float = 1e-3
    device: str | None = None  # None = auto: cuda, else mps, else cpu
    seed: int = 0
    plot: str | None = None  # PNG path for per-layer gradient RMS over steps
    progress: bool = True  # a progress bar on stderr (only when stderr is a terminal)
    # Finer knobs (configuration / API only).
    momentum: float = 0.0  # SGD heavy-ball beta; the stability threshold becomes (2 + 2 beta) / lr
    betas: tuple[float, float] = (0.9, 0.999)  # Adam / AdamW
    eps: float = 1e-8  # Adam / AdamW
    weight_decay: float = 0.0  # AdamW uses 0.01 when this is 0
    log_every: int = 10  # re-measure the gains (one VJP) every this many steps
    sharpness_checks: int = 3  # Hessian top-eigenvalue checks over the run (0 = off)
    hvp_iters: int = 20
    hvp_tol: float = 1e-3
    adam_subset: int = 100_000  # parameters sampled for the Adam effective-step series

    def validated(self) -> ProbeOptions:
        """Raise ``UsageError`` on values the probe cannot run with; return self."""
        from modelcheck.errors import UsageError

        if self.optimizer not in OPTIMIZERS:
            raise UsageError(f"unknown probe optimizer {self.optimizer!r}", hint="use adam, adamw or sgd")
        if self.steps < 1:
            raise UsageError(f"--probe-steps must be at least 1, got {self.steps}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise UsageError(f"--lr must be a positive number, got {self.lr}")
        if self.batch_size is not None and self.batch_size < 1:
            raise UsageError(f"--batch-size must be at least 1, got {self.batch_size}")
        return self


@dataclass(frozen=True)
class StepRecord:
    """One training step. Per-layer tuples are aligned with :attr:`ProbeResult.layers`.

    loss          the MSE loss of this step's forward pass (before its update)
    grad_rms      RMS of each layer's parameter gradients
    out_grad_rms  RMS of dLoss/d(layer output)
    act_rms       RMS of each layer's output
    rel_update    ||theta_t+1 - theta_0|| / ||theta_0|| per layer after this step's update
                  (cumulative since init; ||theta_t+1|| is used when theta_0 = 0)
    """

    step: int
    loss: float
    grad_rms: tuple[float, ...]
    out_grad_rms: tuple[float, ...]
    act_rms: tuple[float, ...]
    rel_update: tuple[float, ...]


@dataclass(frozen=True)
class GainPoint:
    """The SPEC §2 gains re-measured after ``step`` updates, with the scale-free depth statistic.

    d_vanish / d_explode: max over layers of -log10 / +log10 of the relative gain
    G_rel(l) = ||dL/dh_l|| rms(h_l) / (||u|| rms(y)) (THEORY §3.3), floored at 0.
    """

    step: int
    forward_gain: float | None
    backward_gain: float | None
    d_vanish: float | None
    d_explode: float | None


@dataclass(frozen=True)
class SharpnessCheck:
    step: int
    value: float  # top eigenvalue of H (SGD) or of P^-1 H (Adam)
    iterations: int
    converged: bool


@dataclass(frozen=True)
class SharpnessReport:
    """Curvature against the optimizer's stability threshold (THEORY §6)."""

    kind: str  # "hessian" (SGD: 2/lr, heavy ball (2+2b)/lr) | "preconditioned" (Adam: (2+2b1)/((1-b1) lr))
    threshold: float
    checks: tuple[SharpnessCheck, ...]
    verdict: str  # "stable" | "edge" | "unstable" | "unknown"
    method: str = "autograd"  # "autograd" (double backward) | "finite-difference"


@dataclass(frozen=True)
class AdamReport:
    """Adam effective-step series on a random parameter subset (Chen, Liu, Sun & Hong 2019).

    a, b, s are cumulative A_T, B_T, S_T at each step t (1-based) in ``t``; slopes are log-log slopes
    of the series against t over the second half of the run.
    """

    subset: int
    t: tuple[int, ...]
    a: tuple[float, ...]
    b: tuple[float, ...]
    s: tuple[float, ...]
    slope_a: float | None
    slope_b: float | None
    slope_s: float | None
    frac_below_eps: float  # share of all parameters with sqrt(v_hat) < eps at the end
    oscillating: bool


@dataclass(frozen=True)
class NonFinite:
    """The first non-finite value seen in training."""

    step: int
    where: str  # "loss" | "forward" | "gradient"
    module: str | None  # module path (None: not attributable to one module)
    detail: str  # a readable clause for the message


@dataclass(frozen=True)
class Symptoms:
    """Per-module symptom measurements at one point (step 0 or the end), keyed by module path."""

    step: int
    relu_active: dict[str, float] = field(default_factory=dict)  # fraction of outputs > 0
    norm_row_std: dict[str, tuple[float, float]] = field(default_factory=dict)  # (min row std, eps)
    attention_entropy: dict[str, float] = field(default_factory=dict)  # min mean H(p)/log T


@dataclass(frozen=True)
class ProbeResult:
    """Everything a probe run measured, and the findings it confirmed or added."""

    findings: tuple[Finding, ...]
    metrics: Metrics
    device: str
    profile: tuple[LayerStat, ...]
    layers: tuple[str, ...] = ()  # column labels of the per-layer tuples in ``steps``
    steps: tuple[StepRecord, ...] = ()
    gains: tuple[GainPoint, ...] = ()
    sharpness: SharpnessReport | None = None
    adam: AdamReport | None = None
    symptoms: tuple[Symptoms, ...] = ()
    nonfinite: NonFinite | None = None
    notes: tuple[str, ...] = ()
    seconds: float = 0.0
    options: ProbeOptions = ProbeOptions()

    @property
    def losses(self) -> tuple[float, ...]:
        return tuple(s.loss for s in self.steps)

    def summary(self) -> dict[str, Any]:
        """A JSON-safe dict (NaN/inf -> None) for ``ModelReport.probe_summary``."""
        data = {
            "device": self.device,
            "seconds": self.seconds,
            "options": asdict(self.options),
            "layers": list(self.layers),
            "losses": list(self.losses),
            "gains": [asdict(g) for g in self.gains],
            "sharpness": asdict(self.sharpness) if self.sharpness else None,
            "adam": asdict(self.adam) if self.adam else None,
            "nonfinite": asdict(self.nonfinite) if self.nonfinite else None,
            "notes": list(self.notes),
        }
        return _json_safe(data)


def _json_safe(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    return x
