"""Mean-field rules for attention: softmax, scaled dot-product attention (``Op.ATTENTION``) and an
``nn.MultiheadAttention`` leaf (fx keeps it whole), the composition in-projection -> scaled dot-product
attention -> out-projection, from the module's own weights."""

from __future__ import annotations

import math
from typing import Sequence

from modelcheck.ir import Graph, Node, Op
from modelcheck.passes.facts import SignalState
from modelcheck.passes.signal.ops import (
    BACKWARD_R,
    State,
    _shape,
    backward,
    forward,
    param_moments,
)


def _proj_factors(graph: Graph, node: Node) -> tuple[list[tuple[float, float]], tuple[float, float]]:
    """[(row factor fro²/out, bias msq) for q, k, v], (factor, bias msq) of the out-projection."""
    w = graph.param(node, "in_proj_weight")
    b = graph.param(node, "in_proj_bias")
    qkv: list[tuple[float, float]] = []
    if w is not None and not w.is_meta:
        e = w.shape[0] // 3
        for i in range(3):
            wi = w[i * e:(i + 1) * e].detach().double()
            bi = b[i * e:(i + 1) * e].detach().double() if b is not None and not b.is_meta else None
            qkv.append((float((wi * wi).sum()) / e, float((bi * bi).mean()) if bi is not None else 0.0))
    else:
        for role in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
            m = param_moments(graph, node.params.get(role)) or param_moments(graph, node.params.get("in_proj_weight"))
            shp = _weight_cols(graph, node, role)
            bm = param_moments(graph, node.params.get("in_proj_bias"))
            qkv.append(((m[0] * shp) if m else 1.0, bm[0] if bm else 0.0))
    ow = param_moments(graph, node.params.get("out_proj.weight"))
    ob = param_moments(graph, node.params.get("out_proj.bias"))
    ocols = _weight_cols(graph, node, "out_proj.weight")
    return qkv, ((ow[0] * ocols) if ow else 1.0, ob[0] if ob else 0.0)


def _weight_cols(graph: Graph, node: Node, role: str) -> int:
    t = graph.param(node, role)
    if t is None:
        t = graph.param(node, "in_proj_weight")
    return int(t.shape[1]) if t is not None and t.dim() == 2 else 1


def _inputs(ins: Sequence[State]) -> tuple[SignalState, SignalState, SignalState] | None:
    live = [s for s in ins[:3] if s is not None]
    if not live:
        return None
    x = live[0]
    return (ins[0] or x), (ins[1] if len(ins) > 1 and ins[1] else x), (ins[2] if len(ins) > 2 and ins[2] else x)


def _t(node: Node) -> int:
    shp = _shape(node.inputs[1] if len(node.inputs) > 1 else node.inputs[0]) if node.inputs else ()
    if len(shp) < 2:
        return 1
    return int(shp[1] if node.attrs.get("batch_first") else shp[0])


def _project(s: SignalState, f: tuple[float, float]) -> SignalState:
    return SignalState(f[0] * s.q + f[1], f[0] * s.r + f[1], 0.0)


def mha_forward(graph: Graph, node: Node, ins: Sequence[State]) -> tuple[float, float] | None:
    xs = _inputs(ins)
    if xs is None:
        return None
    (fq, fk, fv), fo = _proj_factors(graph, node)
    q, k, v = _project(xs[0], fq), _project(xs[1], fk), _project(xs[2], fv)
    q_out, r_out, _ = attention_state(q, k, v, d=1, t=_t(node), scale=1.0, causal=bool(node.attrs.get("is_causal")))
    return fo[0] * q_out + fo[1], fo[0] * r_out + fo[1]


def _paths(graph: Graph, node: Node, ins: Sequence[State], out: SignalState) -> tuple[float, float, float, float] | None:
    """(g to the query input, to the key input, to the value input, gradient covariance at values)."""
    xs = _inputs(ins)
    if xs is None:
        return None
    (fq, fk, fv), fo = _proj_factors(graph, node)
    q, k, v = _project(xs[0], fq), _project(xs[1], fk), _project(xs[2], fv)
    t = _t(node)
    _, _, s = attention_state(q, k, v, d=1, t=t, scale=1.0, causal=bool(node.attrs.get("is_causal")))
    # d=1 with scale 1 stands for scale² d_k = 1 (the default 1/sqrt(d_k) scaling).
    g_ctx = out.g * fo[0] * _cols_ratio(graph, node)
    rho = min(out.gr / out.g, 1.0) if out.g else 0.0
    spread = max(v.q - v.r, 0.0) / max(t, 1)
    return (g_ctx * spread * k.q * fq[0], g_ctx * spread * q.q * fk[0],
            g_ctx * value_path(1.0, rho, s) * fv[0], g_ctx * value_path_r(1.0, rho, t) * fv[0])


def _spread(node: Node, ins: Sequence[State], gq: float, gk: float, gv: float) -> list[float]:
    if len(node.inputs) >= 3 and node.inputs[0] is node.inputs[1] is node.inputs[2]:
        return [gq + gk + gv, 0.0, 0.0] + [0.0] * (len(ins) - 3)
    return [gq, gk, gv] + [0.0] * (len(ins) - 3)


def mha_backward(graph: Graph, node: Node, ins: Sequence[State], out: SignalState, g: float) -> list[float]:
    p = _paths(graph, node, ins, out)
    return [g for _ in ins] if p is None else _spread(node, ins, p[0], p[1], p[2])


def mha_backward_r(graph: Graph, node: Node, ins: Sequence[State], out: SignalState, contrib: list[float]) -> list[float]:
    """Gradient covariance between positions after the value path averaged the queries' gradients."""
    rho = min(out.gr / out.g, 1.0) if out.g else 0.0
    p = _paths(graph, node, ins, out)
    if p is None:
        return [c * rho for c in contrib]
    return _spread(node, ins, p[0] * rho, p[1] * rho, p[3])


def _cols_ratio(graph: Graph, node: Node) -> float:
    """fo is fro²/out (forward); the backward needs fro²/in: their ratio is out/in of out_proj."""
    w = graph.param(node, "out_proj.weight")
    return float(w.shape[0]) / float(w.shape[1]) if w is not None and w.dim() == 2 else 1.0


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
        return mha_backward_r(graph, node, ins, out, contrib)
    rho = out.gr / out.g if out.g else 0.0
    res = [c * rho for c in contrib]
    if len(res) >= 3:
        _, t, _ = _sdpa_dims(node)
        res[2] = min(contrib[2], value_path_r(out.g, out.gr, t))
    return res


BACKWARD_R[Op.ATTENTION] = _attention_r
