"""Mean-field rules for ops that mix positions or rescale by statistics: norms, pooling, reductions,
shape ops, matmul, softmax and attention (THEORY §3.2, the attention row with (q, r) tracking)."""

from __future__ import annotations

import math
from typing import Sequence

from modelcheck.ir import Graph, Node, Op
from modelcheck.passes.facts import SignalState
from modelcheck.passes.signal.ops import (
    BACKWARD_R,
    State,
    _first,
    _numel,
    _shape,
    backward,
    forward,
    param_moments,
)

_TINY = 1e-30


def _affine(graph: Graph, node: Node) -> tuple[float, float]:
    """(E[γ²], E[β²]) of a norm's affine parameters (1, 0 when it has none)."""
    w = param_moments(graph, node.params.get("weight"))
    b = param_moments(graph, node.params.get("bias"))
    off = float(node.attrs.get("weight_offset", 0.0))  # Gemma: γ = 1 + weight
    g2 = (w[0] + 2 * off * w[1] + off * off) if w else 1.0
    return g2, (b[0] if b else 0.0)


def _centres_positions(node: Node, training: bool) -> bool:
    """Batch norm (train) and instance norm subtract a mean shared across positions."""
    kind = node.attrs.get("kind")
    return (kind == "batch" and bool(node.attrs.get("training", training))) or kind == "instance"


@forward(Op.NORM)
def _norm_f(graph: Graph, node: Node, ins: Sequence[State]) -> tuple[float, float] | None:
    x = ins[0]
    if x is None:
        return None
    g2, b2 = _affine(graph, node)
    eps = float(node.attrs.get("eps") or 1e-5)
    kind = node.attrs.get("kind")
    if kind == "batch" and not node.attrs.get("training", graph.training):
        rv = param_moments(graph, node.params.get("running_var"))
        var = rv[1] if rv else 1.0
        return g2 * x.q / (var + eps) + b2, g2 * x.r / (var + eps) + b2
    if _centres_positions(node, graph.training):
        var = max(x.q - x.r, 0.0)
        return g2 * var / (var + eps) + b2, b2
    rho = x.r / x.q if x.q > 0 else 0.0
    scale = x.q / (x.q + eps)
    return g2 * scale + b2, g2 * scale * rho + b2


@backward(Op.NORM)
def _norm_b(graph: Graph, node: Node, ins: Sequence[State], out: SignalState, g: float) -> list[float]:
    x = ins[0]
    g2, _ = _affine(graph, node)
    eps = float(node.attrs.get("eps") or 1e-5)
    if x is None:
        return [g]
    kind = node.attrs.get("kind")
    if kind == "batch" and not node.attrs.get("training", graph.training):
        rv = param_moments(graph, node.params.get("running_var"))
        return [g * g2 / ((rv[1] if rv else 1.0) + eps)]
    # Backprop carries the full second moment while the norm divided by the (centred) variance:
    # the λ = E[φ²]/Var[φ] factor of BN-plain nets (THEORY §3.2).
    var = max(x.q - x.r, 0.0) if _centres_positions(node, graph.training) else x.q
    return [g * g2 / (var + eps)] + [0.0] * (len(ins) - 1)


def _norm_r(graph: Graph, node: Node, ins: Sequence[State], out: SignalState, contrib: list[float]) -> list[float]:
    if _centres_positions(node, graph.training):
        return [0.0 for _ in contrib]  # the backward of a centring subtracts the shared gradient
    return [c * out.gr / out.g if out.g else 0.0 for c in contrib]


BACKWARD_R[Op.NORM] = _norm_r


@forward(Op.RESHAPE, Op.SPLIT, Op.IDENTITY, Op.PAD, Op.UPSAMPLE, Op.OUTPUT)
def _same_f(graph: Graph, node: Node, ins: Sequence[State]) -> tuple[float, float] | None:
    x = ins[0] if ins else None
    if x is None:
        return None
    if node.op is Op.PAD and _numel(node.inputs[0]) and node.attrs.get("mode", "constant") == "constant":
        f = _numel(node.inputs[0]) / max(_numel(node), 1)  # zeros dilute the second moment
        return x.q * f, x.r * f
    return x.q, x.r


@backward(Op.RESHAPE, Op.SPLIT, Op.IDENTITY, Op.PAD, Op.UPSAMPLE, Op.POOL)
def _route_b(graph: Graph, node: Node, ins: Sequence[State], out: SignalState, g: float) -> list[float]:
    # Selections route each output gradient to one input element; broadcasts and upsampling sum
    # copies: either way the per-element second moment scales with numel(out) / numel(in).
    n_in, n_out = _numel(node.inputs[0]) if node.inputs else 0, _numel(node)
    f = n_out / n_in if n_in and n_out else 1.0
    if node.op is Op.POOL and node.attrs.get("kind", "max") in ("avg", "adaptive_avg"):
        f /= _window(node)
    return [g * f] + [0.0] * (len(ins) - 1)


@forward(Op.DROPOUT)
def _dropout_f(graph: Graph, node: Node, ins: Sequence[State]) -> tuple[float, float] | None:
    x = ins[0]
    p = float(node.attrs.get("p", 0.0)) if graph.training else 0.0
    return None if x is None else (x.q / (1 - p), x.r)


@backward(Op.DROPOUT)
def _dropout_b(graph: Graph, node: Node, ins: Sequence[State], out: SignalState, g: float) -> list[float]:
    p = float(node.attrs.get("p", 0.0)) if graph.training else 0.0
    return [g / (1 - p)]


@forward(Op.CONCAT)
def _concat_f(graph: Graph, node: Node, ins: Sequence[State]) -> tuple[float, float] | None:
    parts = [(s, max(_numel(i), 1)) for s, i in zip(ins, node.inputs) if s is not None]
    if not parts:
        return None
    tot = sum(n for _, n in parts)
    return sum(s.q * n for s, n in parts) / tot, sum(s.r * n for s, n in parts) / tot


@backward(Op.CONCAT)
def _concat_b(graph: Graph, node: Node, ins: Sequence[State], out: SignalState, g: float) -> list[float]:
    return [g for _ in ins]


def _window(node: Node) -> float:
    n_in, n_out = _numel(node.inputs[0]) if node.inputs else 0, _numel(node)
    k = node.attrs.get("kernel") or node.attrs.get("kernel_size")
    if isinstance(k, (list, tuple)) and k:
        return float(math.prod(int(v) for v in k))
    if isinstance(k, int):
        nd = max(len(_shape(node)) - 2, 1)
        return float(k**nd)
    return max(n_in / n_out, 1.0) if n_in and n_out else 1.0


@forward(Op.POOL)
def _pool_f(graph: Graph, node: Node, ins: Sequence[State]) -> tuple[float, float] | None:
    x = ins[0]
    if x is None:
        return None
    n = _window(node)
    if node.attrs.get("kind", "max") in ("avg", "adaptive_avg"):
        return x.r + (x.q - x.r) / n, x.r
    # Max of n roughly independent values: E[max²] grows like 1 + log n in units of the variance
    # around the shared part (a Gumbel-style approximation, good to ~20% for n ≤ 16).
    var = max(x.q - x.r, 0.0)
    return x.q + var * 0.5 * math.log(n) if n > 1 else x.q, x.r


@forward(Op.REDUCE)
def _reduce_f(graph: Graph, node: Node, ins: Sequence[State]) -> tuple[float, float] | None:
    x = ins[0]
    if x is None:
        return None
    n_in, n_out = _numel(node.inputs[0]), max(_numel(node), 1)
    n = max(n_in / n_out, 1.0) if n_in else 1.0
    if node.attrs.get("fn", "mean") == "sum":
        return n * x.q + n * (n - 1) * x.r, n * n * x.r
    return x.r + (x.q - x.r) / n, x.r


@backward(Op.REDUCE)
def _reduce_b(graph: Graph, node: Node, ins: Sequence[State], out: SignalState, g: float) -> list[float]:
    n_in, n_out = _numel(node.inputs[0]) if node.inputs else 0, max(_numel(node), 1)
    n = max(n_in / n_out, 1.0) if n_in else 1.0
    return [g if node.attrs.get("fn", "mean") == "sum" else g / (n * n)]


@forward(Op.MATMUL)
def _matmul_f(graph: Graph, node: Node, ins: Sequence[State]) -> tuple[float, float] | None:
    if len(ins) < 2 or ins[0] is None or ins[1] is None:
        return None
    k = _shape(node.inputs[0])[-1] if _shape(node.inputs[0]) else 1
    a, b = ins[0], ins[1]
    return k * a.q * b.q, k * a.r * b.r


@backward(Op.MATMUL)
def _matmul_b(graph: Graph, node: Node, ins: Sequence[State], out: SignalState, g: float) -> list[float]:
    if len(ins) < 2 or ins[0] is None or ins[1] is None:
        return [g for _ in ins]
    sa, sb = _shape(node.inputs[0]), _shape(node.inputs[1])
    n_cols = sb[-1] if len(sb) >= 2 else 1
    n_rows = sa[-2] if len(sa) >= 2 else 1
    return [g * n_cols * ins[1].q, g * n_rows * ins[0].q] + [0.0] * (len(ins) - 2)


__all__ = ["_first"]
