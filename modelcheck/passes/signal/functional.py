"""Mean-field rules for normalisation and elementwise maps written with tensor functions (issue 11).

Models often normalise by hand: ``F.normalize(x, dim=1) * g * sqrt(C)`` (an RMSNorm over channels),
``x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)`` (LLaMA's RMSNorm), ``x / x.norm(dim=-1,
keepdim=True)`` (CLIP's projections). Passing these through unchanged lets every such norm multiply the
predicted scale instead of resetting it, and the error compounds with depth. The rules here follow
the statistic each function computes:

- ``normalize`` (p = 2 over ``dim``): each row has unit norm, so the per-coordinate second moment is
  1/n (n = the size of the normalised dims); the correlation between positions is kept.
- ``norm`` / ``vector_norm`` (over ``dim``): a near-constant sqrt(n q) per row: q' = r' = n q.
- ``pow`` with exponent 2: E[x⁴] = 3q², E[x² x'²] = q² + 2r² for Gaussian x.
- ``rsqrt`` / ``sqrt`` of a positive, concentrated statistic v (mean of squares, a norm): the value is
  ≈ E[v]^(∓1/2), with E[v] ≈ √r_v when positions share it.
- ``exp``: the lognormal moments E[e^{2u}] = e^{2q}, E[e^{u+u'}] = e^{q+r}; its derivative is itself.
- division by a concentrated positive tensor (a norm, an rms) divides the second moment by its square.

GLU (``fn == "glu"``: a·σ(b) over two halves) is an activation whose two halves are independent:
q' = q E[σ²], and the gradient reaching the halves averages E[σ²] and q E[σ′²].
"""

from __future__ import annotations

import math
from typing import Sequence

from modelcheck.ir import Graph, Node
from modelcheck.numerics.gaussian import moments
from modelcheck.passes.facts import SignalState

State = SignalState | None
_MAX_EXP = 300.0  # e^{2q} beyond this is reported as an overflow by the caller's clip


def _shape(node: Node | None) -> tuple[int, ...]:
    return tuple(node.meta.shape) if node is not None and node.meta is not None else ()


def _reduced(node: Node, default_dim: int | tuple[int, ...] | None) -> float:
    """Number of entries the function reduces over per output row (``dim``; None = all)."""
    shape = _shape(node.inputs[0] if node.inputs else None)
    if not shape:
        return 1.0
    dim = node.attrs.get("dim", default_dim)
    if dim is None:
        return float(math.prod(shape))
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    n = 1
    for d in dims:
        try:
            n *= int(shape[int(d)])
        except (IndexError, TypeError, ValueError):
            return 1.0
    return float(n)


def concentrated(s: SignalState) -> bool:
    """A positive statistic shared by the positions (a norm, an rms): most of q is the common level."""
    return s.q > 0 and s.r >= 0.5 * s.q


def forward(graph: Graph, node: Node, ins: Sequence[State]) -> tuple[float, float] | None:
    """The rule for ``node`` (an ``Op.OTHER`` function), or None when no rule covers it."""
    note = str(node.attrs.get("note", ""))
    x = ins[0] if ins else None
    if x is None:
        return None
    if note == "normalize" and float(node.attrs.get("p", 2.0)) == 2.0:
        n = _reduced(node, 1)
        return 1.0 / n, (x.corr / n)
    if note in ("norm", "vector_norm", "linalg_vector_norm") and float(node.attrs.get("p", 2.0) or 2.0) == 2.0:
        q = _reduced(node, None) * x.q
        return q, q
    if note == "pow" and node.attrs.get("exponent") == 2:
        return 3 * x.q * x.q, x.q * x.q + 2 * x.r * x.r
    if note in ("rsqrt", "sqrt") and x.q > 0:
        level = math.sqrt(max(x.r, 0.0)) if concentrated(x) else math.sqrt(x.q)
        if level <= 0:
            return None
        v = 1.0 / level if note == "rsqrt" else level
        return v, v
    if note == "exp":
        m = moments("exp", min(x.q, _MAX_EXP), min(x.r, _MAX_EXP))
        return (m[0], m[2]) if m is not None else None
    return None


def backward(graph: Graph, node: Node, ins: Sequence[State], out: SignalState, g: float) -> list[float] | None:
    note = str(node.attrs.get("note", ""))
    x = ins[0] if ins else None
    if x is None:
        return None
    rest = [0.0] * (len(ins) - 1)
    if note == "normalize" and float(node.attrs.get("p", 2.0)) == 2.0:
        n = _reduced(node, 1)
        return [g * max(n - 1.0, 1.0) / n / (n * x.q) if x.q > 0 else g] + rest
    if note in ("norm", "vector_norm", "linalg_vector_norm"):
        n = _reduced(node, None)
        return [g / n] + rest
    if note == "pow" and node.attrs.get("exponent") == 2:
        return [g * 4 * x.q] + rest
    if note in ("rsqrt", "sqrt") and out.q > 0:
        v = 1.0 / out.q if note == "rsqrt" else out.q  # the statistic's level squared
        d = 0.25 / v**3 if note == "rsqrt" else 0.25 / v
        return [g * d] + rest
    if note == "exp":
        m = moments("exp", min(x.q, _MAX_EXP), min(x.r, _MAX_EXP))
        return [g * m[1]] + rest if m is not None else None
    return None


def glu_forward(x: SignalState) -> tuple[float, float]:
    m = moments("sigmoid", x.q, x.r)
    assert m is not None
    return x.q * m[0], x.r * m[2]


def glu_backward(x: SignalState, g: float) -> float:
    m = moments("sigmoid", x.q, x.r)
    assert m is not None
    return g * (m[0] + x.q * m[1]) / 2
