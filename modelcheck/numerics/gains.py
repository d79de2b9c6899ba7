"""Initialisation maths (THEORY §3.1, §4): ideal gains, χ, fixed points and fans, built on the Gaussian
expectations of :mod:`modelcheck.numerics.gaussian`.

Pure functions of numbers and shapes, cached, no graph. Conventions follow THEORY:

- a pre-activation ``u`` has second moment ``q = E[u²]`` and mean ``mu``, so ``u = mu + sqrt(q − mu²)·z``
  with ``z ~ N(0, 1)`` (the mean is part of ``q``, as in the signal pass);
- ``σ_w² = E[W²]·fan_in`` is a weight's effective gain squared; the *ideal* gain ``g(φ, q)`` keeps the
  second moment fixed through ``W`` then ``φ``: ``g² · E[φ(√q z)²] = q``;
- expectations are Gaussian quadrature with the kinks of φ as panel boundaries (Gauss–Legendre panels
  on z ∈ [−12, 12], density folded into the weights), so no node sits on a kink. This is THEORY's
  even-node Gauss–Hermite rule made exact for kinks away from 0: 200-node Gauss–Hermite is exact for
  ReLU's E[φ′²] by symmetry, but misses E[ReLU] by 2e-3 relative and SELU's χ by 0.4%, and gets worse
  once the pre-activation has a mean (the dead-ReLU case).

Activation names are the IR's canonical ones (``relu``, ``leaky_relu``, ``gelu``, ``gelu_tanh``, ``silu``,
``tanh``, ``sigmoid``, ``selu``, ...); ``None``, ``"linear"`` and ``"identity"`` mean no nonlinearity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from modelcheck.numerics.gaussian import (  # noqa: F401  (re-exported: the init rules' vocabulary)
    Kind,
    expect,
    is_homogeneous,
    is_known,
    is_linear,
    kinks,
)


def ideal_gain(fn_name: str | None, attrs: Mapping[str, object] | None = None, q: float = 1.0) -> float:
    """The gain g with g²·E[φ(√q z)²] = q: the weight std·√fan_in that keeps the second moment of the
    pre-activations at q through one ``W, φ`` layer (He et al. 2015 for ReLU: √2). GELU/SiLU gains
    depend on q (GELU: 2 as q → 0, √2 as q → ∞); homogeneous φ have one gain."""
    if is_linear(fn_name):
        return 1.0
    q = 1.0 if q <= 0 or is_homogeneous(fn_name) else q
    e = expect(fn_name, q, kind="phi2", attrs=attrs)
    return math.sqrt(q / e) if e > 0 else math.inf


def centred_gain(fn_name: str | None, attrs: Mapping[str, object] | None = None, q: float = 1.0) -> float:
    """g_c with g_c²·Var φ(√q z) = q: the gain for weight-standardised layers (Brock et al. 2021)."""
    if is_linear(fn_name):
        return 1.0
    q = 1.0 if q <= 0 else q
    m = expect(fn_name, q, kind="phi", attrs=attrs)
    var = expect(fn_name, q, kind="phi2", attrs=attrs) - m * m
    return math.sqrt(q / var) if var > 0 else math.inf


def chi(fn_name: str | None, sigma_w2: float, q: float = 1.0, attrs: Mapping[str, object] | None = None,
        mu: float = 0.0) -> float:
    """χ = σ_w²·E[φ′(u)²]: the per-layer factor of E‖δ‖² in norm form (Schoenholz et al. 2017)."""
    return sigma_w2 * expect(fn_name, q, mu=mu, kind="dphi2", attrs=attrs)


def fixed_point(fn_name: str | None, sigma_w2: float, sigma_b2: float = 0.0,
                attrs: Mapping[str, object] | None = None, q0: float = 1.0, iters: int = 500) -> float:
    """q* of q ← σ_w²·E[φ(√q z)²] + σ_b² (Poole et al. 2016), by iteration from q0."""
    q = q0
    for _ in range(iters):
        nq = sigma_w2 * expect(fn_name, q, kind="phi2", attrs=attrs) + sigma_b2
        if not math.isfinite(nq) or abs(nq - q) <= 1e-12 * max(q, 1e-300):
            return nq
        q = nq
    return q


def layer_gains(fn_name: str | None, sigma_w2: float, q: float = 1.0,
                attrs: Mapping[str, object] | None = None) -> tuple[float, float]:
    """(forward, backward) RMS gain of one ``W`` (gain² = σ_w²) followed by φ, with the pre-activation
    at second moment q: forward √(σ_w²·E[φ²]/q) = σ_w/g(φ, q), backward √χ. Biases are left out: this
    is the part of the signal that still carries the input."""
    if is_linear(fn_name):
        return math.sqrt(sigma_w2), math.sqrt(sigma_w2)
    qq = 1.0 if q <= 0 or is_homogeneous(fn_name) else q
    fwd = math.sqrt(sigma_w2 * expect(fn_name, qq, kind="phi2", attrs=attrs) / qq)
    return fwd, math.sqrt(chi(fn_name, sigma_w2, qq, attrs))


_TORCH_GAINS = {
    "linear": 1.0, "identity": 1.0, "conv1d": 1.0, "conv2d": 1.0, "conv3d": 1.0, "sigmoid": 1.0,
    "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0), "selu": 0.75,
}


def torch_gain(fn_name: str | None, attrs: Mapping[str, object] | None = None) -> float | None:
    """``nn.init.calculate_gain``'s value (THEORY §4.2); None where torch has none (GELU, SiLU, ...)."""
    if fn_name is None:
        return 1.0
    if fn_name == "leaky_relu":
        a = float((attrs or {}).get("negative_slope", 0.01))  # type: ignore[arg-type]
        return math.sqrt(2.0 / (1.0 + a * a))
    return _TORCH_GAINS.get(fn_name)


def active_fraction(mu: float, sigma: float) -> float:
    """P(u > 0) for u ~ N(mu, sigma²): the share of time a ReLU unit is on, Φ(mu/sigma)."""
    if sigma <= 0:
        return 1.0 if mu > 0 else 0.0
    return 0.5 * math.erfc(-mu / (sigma * math.sqrt(2.0)))


def normal_quantile(p: float) -> float:
    """Φ⁻¹(p), for thresholds such as Φ⁻¹(0.1) = −1.2816 (bisection on erfc; p in (0, 1))."""
    if not 0.0 < p < 1.0:
        raise ValueError("p must be in (0, 1)")
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if active_fraction(mid, 1.0) < p else (lo, mid)
    return 0.5 * (lo + hi)


class Fans(NamedTuple):
    """Fan sizes of a weight. ``forward`` is the fan that sets the forward gain (σ_w² = E[W²]·forward),
    ``backward`` the one for per-coordinate gradients; ``torch_in``/``torch_out`` are what
    ``nn.init._calculate_fan_in_and_fan_out`` computes (and hence what ``kaiming_*``/``xavier_*`` use)."""

    forward: float
    backward: float
    torch_in: int
    torch_out: int


def fans(shape: Sequence[int], *, transposed: bool = False, groups: int = 1,
         stride: Sequence[int] | int | None = None) -> Fans:
    """Fans of a Linear (out, in), Conv (C_out, C_in/g, k…) or ConvTranspose (C_in, C_out/g, k…) weight
    (THEORY §4.1, §3.2). For ConvTranspose torch's "fan_in" is (C_out/g)·∏k, while the forward pass
    sums (C_in/g)·∏(k_i/s_i) inputs per output; an Embedding (V, d) is a lookup with torch_in = d."""
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2:
        n = shape[0] if shape else 1
        return Fans(float(n), float(n), n, n)
    ks = shape[2:]
    receptive = math.prod(ks) if ks else 1
    torch_in, torch_out = shape[1] * receptive, shape[0] * receptive
    if not ks:
        return Fans(float(shape[1]), float(shape[0]), torch_in, torch_out)
    strides = _per_axis(stride, len(ks))
    overlap = math.prod(k / s for k, s in zip(ks, strides))  # taps per output position, on average
    g = max(int(groups), 1)
    if transposed:
        return Fans(shape[0] / g * overlap, float(shape[1] * receptive), torch_in, torch_out)
    return Fans(float(shape[1] * receptive), shape[0] / g * overlap, torch_in, torch_out)


def _per_axis(v: Sequence[int] | int | None, n: int) -> tuple[int, ...]:
    if v is None:
        return (1,) * n
    if isinstance(v, int):
        return (max(v, 1),) * n
    vals = tuple(max(int(i), 1) for i in v)
    return vals if len(vals) == n else (vals[0],) * n


def ideal_std(fn_name: str | None, fan_in: float, attrs: Mapping[str, object] | None = None,
              q: float = 1.0) -> float:
    """The weight std that preserves the second moment through ``W, φ``: g(φ, q)/√fan_in."""
    return ideal_gain(fn_name, attrs, q) / math.sqrt(max(fan_in, 1e-300))
