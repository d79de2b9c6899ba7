"""Mean-field rules for ops that mix positions or rescale by statistics: norms, pooling, reductions,
shape ops, matmul, softmax and attention (THEORY §3.2, the attention row with (q, r) tracking)."""

from __future__ import annotations

import math
from typing import Sequence

from modelcheck.ir import Graph, Node, Op
from modelcheck.passes.facts import SignalState
from modelcheck.passes.signal_ops import (
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


def softmax_concentration(var_scores: float, t: int, causal: bool = False) -> float:
    """s = E Σ_j p_j², ≈ e^{σ²}/T for near-uniform attention (lognormal approximation), ≤ 1."""
    e = math.exp(min(var_scores, 50.0))
    if not causal:
        return min(1.0, e / max(t, 1))
    return sum(min(1.0, e / (i + 1)) for i in range(t)) / max(t, 1)


@forward(Op.SOFTMAX)
def _softmax_f(graph: Graph, node: Node, ins: Sequence[State]) -> tuple[float, float] | None:
    x = ins[0]
    if x is None:
        return None
    t = _softmax_len(node)
    s = softmax_concentration(max(x.q - x.r, 0.0), t)
    if node.attrs.get("log"):
        return math.log(t) ** 2 + max(x.q - x.r, 0.0), math.log(t) ** 2
    return s / t, 1.0 / (t * t)


def _softmax_len(node: Node) -> int:
    shp = _shape(node)
    dim = node.attrs.get("dim", -1)
    try:
        return int(shp[dim]) if shp else 1
    except (IndexError, TypeError):
        return int(shp[-1]) if shp else 1


@backward(Op.SOFTMAX)
def _softmax_b(graph: Graph, node: Node, ins: Sequence[State], out: SignalState, g: float) -> list[float]:
    x = ins[0]
    if node.attrs.get("log") or x is None:
        return [g]
    t = _softmax_len(node)
    s = softmax_concentration(max(x.q - x.r, 0.0), t)
    return [g * max(s * (1 - s), 1.0 / (t * t)) / t]


def attention_state(q: SignalState, k: SignalState, v: SignalState, *, d: int, t: int, scale: float,
                    causal: bool) -> tuple[float, float, float]:
    """(q_out, r_out, s) of softmax(Q Kᵀ·scale) V with near-uniform attention at init."""
    var_s = scale * scale * d * max(q.q * k.q - q.r * k.r, 0.0)
    s = softmax_concentration(var_s, t, causal)
    q_out = s * v.q + (1 - s) * v.r
    r_out = min(q_out, v.r + (v.q - v.r) / max(t, 1))  # averaging drives token correlation up
    return q_out, r_out, s


def _sdpa_dims(node: Node) -> tuple[int, int, float]:
    qs = _shape(node.inputs[0]) if node.inputs else ()
    ks = _shape(node.inputs[1]) if len(node.inputs) > 1 else qs
    d = int(qs[-1]) if qs else 1
    t = int(ks[-2]) if len(ks) >= 2 else 1
    scale = node.attrs.get("scale")
    return d, t, float(scale) if isinstance(scale, (int, float)) else 1.0 / math.sqrt(max(d, 1))


def _is_mha_leaf(node: Node) -> bool:
    """A whole MultiheadAttention call (fx keeps it as a leaf) rather than an sdpa inside one."""
    return any(r in node.params for r in ("in_proj_weight", "q_proj_weight"))


@forward(Op.ATTENTION)
def _attention_f(graph: Graph, node: Node, ins: Sequence[State]) -> tuple[float, float] | None:
    if _is_mha_leaf(node):
        from modelcheck.passes.signal_mha import mha_forward

        return mha_forward(graph, node, ins)
    if len(ins) < 3 or None in ins[:3]:
        return None
    d, t, scale = _sdpa_dims(node)
    q_out, r_out, _ = attention_state(ins[0], ins[1], ins[2], d=d, t=t, scale=scale,  # type: ignore[arg-type]
                                      causal=bool(node.attrs.get("is_causal")))
    return q_out, r_out


@backward(Op.ATTENTION)
def _attention_b(graph: Graph, node: Node, ins: Sequence[State], out: SignalState, g: float) -> list[float]:
    if _is_mha_leaf(node):
        from modelcheck.passes.signal_mha import mha_backward

        return mha_backward(graph, node, ins, out, g)
    if len(ins) < 3 or None in ins[:3]:
        return [g for _ in ins]
    q, k, v = ins[0], ins[1], ins[2]
    d, t, scale = _sdpa_dims(node)
    _, _, s = attention_state(q, k, v, d=d, t=t, scale=scale, causal=bool(node.attrs.get("is_causal")))  # type: ignore[arg-type]
    # Value path: dL/dv_j = Σ_i p_ij δ_i carries s·g from independent δ_i plus the correlated part;
    # the score path is O(scale² d (q_v - r_v) / T).
    spread = max(v.q - v.r, 0.0) * scale * scale * d / max(t, 1)  # type: ignore[union-attr]
    return [g * spread * k.q, g * spread * q.q, value_path(g, out.gr, s)] + [0.0] * (len(ins) - 3)  # type: ignore[union-attr]


def value_path(g: float, gr: float, s: float) -> float:
    """E[(Σ_i p_ij δ_i)²] with E δ² = g, E δδ' = gr and Σ_i p_ij² ≈ s, Σ_i p_ij ≈ 1."""
    return s * g + (1 - s) * min(gr, g)


def value_path_r(g: float, gr: float, t: int) -> float:
    """Covariance of two keys' value gradients: both average the same queries' δ."""
    return min(g, gr + (g - gr) / max(t, 1))


def _attention_r(graph: Graph, node: Node, ins: Sequence[State], out: SignalState, contrib: list[float]) -> list[float]:
    if _is_mha_leaf(node):
        from modelcheck.passes.signal_mha import mha_backward_r

        return mha_backward_r(graph, node, ins, out, contrib)
    rho = out.gr / out.g if out.g else 0.0
    res = [c * rho for c in contrib]
    if len(res) >= 3:
        _, t, _ = _sdpa_dims(node)
        res[2] = min(contrib[2], value_path_r(out.g, out.gr, t))
    return res


BACKWARD_R[Op.ATTENTION] = _attention_r


__all__ = ["attention_state", "softmax_concentration", "_first"]
