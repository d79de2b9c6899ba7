"""Per-entry distributions of initialised tensors, and how in-place ops transform them.

An :class:`InitRecord` is what :mod:`modelcheck.load.initrecord` records for a parameter built without data (on
the meta device) or with data we do not want to read; ``init_stats`` turns it into ``ParamStats``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

_SQRT2 = math.sqrt(2.0)


@dataclass(frozen=True)
class InitRecord:
    """The distribution a tensor was last initialised from (per entry, iid).

    kind: normal | uniform | trunc_normal | constant | orthogonal | sparse | mixture | unknown.
    ``value`` is the constant for ``constant`` and the gain for ``orthogonal`` (σ_max = |gain|).
    """

    kind: str
    mean: float
    std: float
    low: float | None = None
    high: float | None = None
    value: float | None = None

    @property
    def mean_sq(self) -> float:
        return self.mean**2 + self.std**2

    def scaled(self, c: float) -> InitRecord:
        lo, hi = (None, None) if self.low is None or self.high is None else sorted((self.low * c, self.high * c))
        val = None if self.value is None else self.value * (abs(c) if self.kind == "orthogonal" else c)
        return replace(self, mean=self.mean * c, std=self.std * abs(c), low=lo, high=hi, value=val)

    def shifted(self, c: float) -> InitRecord:
        kind = self.kind if self.kind in ("normal", "uniform", "trunc_normal", "constant") else "mixture"
        lo = None if self.low is None else self.low + c
        hi = None if self.high is None else self.high + c
        val = None if self.value is None or kind != "constant" else self.value + c
        return replace(self, kind=kind, mean=self.mean + c, low=lo, high=hi, value=val)


UNKNOWN = InitRecord("unknown", math.nan, math.nan)


def constant(v: float) -> InitRecord:
    return InitRecord("constant", float(v), 0.0, float(v), float(v), float(v))


def normal(mean: float, std: float) -> InitRecord:
    return InitRecord("normal", float(mean), abs(float(std)))


def uniform(a: float, b: float) -> InitRecord:
    a, b = float(min(a, b)), float(max(a, b))
    return InitRecord("uniform", (a + b) / 2, (b - a) / math.sqrt(12.0), a, b)


def trunc_normal(mean: float, std: float, a: float, b: float) -> InitRecord:
    """N(mean, std²) conditioned on [a, b] (the standard truncated-normal moments)."""
    if std <= 0:
        return constant(min(max(mean, a), b))
    al, be = (a - mean) / std, (b - mean) / std
    pdf = lambda z: math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi) if math.isfinite(z) else 0.0  # noqa: E731
    cdf = lambda z: 0.5 * (1 + math.erf(z / _SQRT2))  # noqa: E731
    mass = cdf(be) - cdf(al)
    if mass <= 1e-300:
        return constant(min(max(mean, a), b))
    d = (pdf(al) - pdf(be)) / mass
    t = ((al * pdf(al) if math.isfinite(al) else 0.0) - (be * pdf(be) if math.isfinite(be) else 0.0)) / mass
    var = std * std * max(1 + t - d * d, 0.0)
    return InitRecord("trunc_normal", mean + std * d, math.sqrt(var), float(a), float(b))


def mixture(old: InitRecord, new: InitRecord, frac_new: float) -> InitRecord:
    """Moments of a tensor of which a fraction ``frac_new`` was overwritten (padding rows, dirac)."""
    f = min(max(frac_new, 0.0), 1.0)
    mean = (1 - f) * old.mean + f * new.mean
    msq = (1 - f) * old.mean_sq + f * new.mean_sq
    bounds = (old.low, old.high, new.low, new.high)
    lo = None if None in bounds else min(old.low, new.low)  # type: ignore[type-var]
    hi = None if None in bounds else max(old.high, new.high)  # type: ignore[type-var]
    return InitRecord("mixture", mean, math.sqrt(max(msq - mean * mean, 0.0)), lo, hi)


def erfinv(r: InitRecord) -> InitRecord:
    # the classic trunc_normal_: uniform(2Φ(a)-1, 2Φ(b)-1).erfinv_() is N(0, 1/2) truncated
    if r.kind == "uniform" and r.low is not None and r.high is not None and -1 <= r.low < r.high <= 1:
        a = math.inf if r.high >= 1 else torch.special.erfinv(torch.tensor(r.high, dtype=torch.float64)).item()
        b = -math.inf if r.low <= -1 else torch.special.erfinv(torch.tensor(r.low, dtype=torch.float64)).item()
        return trunc_normal(0.0, 1 / _SQRT2, b, a)
    return UNKNOWN


def clamp(r: InitRecord, lo: float | None, hi: float | None) -> InitRecord:
    inside = (lo is None or (r.low is not None and r.low >= lo - 1e-6 * abs(lo))) and (
        hi is None or (r.high is not None and r.high <= hi + 1e-6 * abs(hi))
    )
    if inside:
        return r
    if r.kind == "trunc_normal" and r.low is not None and r.high is not None:
        return r  # clamping a truncated normal to (nearly) its own support: rounding guard, a no-op
    return UNKNOWN
