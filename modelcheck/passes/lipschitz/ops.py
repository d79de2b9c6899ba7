"""Per-op Lipschitz constants (THEORY §1.1): one function per op kind, returning a
:class:`LipschitzFact` for the op as a map of its *variable* inputs (constants and parameters fixed).

Weight ops and norms live here, the weight-free ops in ``lipschitz_const``. Certified where the
weights exist; Bai–Yin estimates from ``init_stats`` on meta (``certified=False``). Norm layers other
than eval BatchNorm get the *local* bound max|γ|/√(v_floor+ε) when the example input's row statistics
were captured, else the global max|γ|/√ε.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

from modelcheck.ir import Node, Op
from modelcheck.numerics import conv_bounds as spectral_conv
from modelcheck.numerics import spectral
from modelcheck.passes.facts import LipschitzFact
from modelcheck.passes.lipschitz.const import (
    activation,
    const_one,
    pad,
    pool,
    reduce,
    reshape,
    scalar_mul,
    softmax,
    upsample,
)
from modelcheck.passes.lipschitz.env import (
    NONE_ATTN,
    Env,
    absmax,
    attr,
    fact,
    has_data,
    node_tensor,
    stats_of,
    submodule,
    tensor,
)

__all__ = ["NONE_ATTN", "OPS", "Env", "attr", "bn_scale", "fact", "submodule", "tensor", "unknown"]


# --- weight ops ---------------------------------------------------------------------------------------

def _estimate(env: Env, node: Node, rows: int, cols: int, scale: float = 1.0) -> LipschitzFact:
    st = stats_of(env, node, "weight")
    if st is None:
        return fact(None, "estimate", certified=False, note="no weights and no init statistics")
    if st.gain is not None:
        return fact(abs(st.gain) * scale, "estimate:orthogonal", certified=False)
    return fact(spectral.random_matrix_norm(rows, cols, st.mean, st.std) * scale, "estimate:bai-yin", certified=False)


def linear(env: Env, node: Node, var: Sequence[bool]) -> LipschitzFact:
    w = tensor(env, node, "weight")
    if w is None:
        return fact(None, "unknown", note="no weight")
    rows, cols = int(w.shape[0]), int(w.numel() // max(int(w.shape[0]), 1))
    if w.is_meta:
        return _estimate(env, node, rows, cols)
    w = w.detach().reshape(rows, cols)
    scale = env.fused.get(node.name)
    c = _uniform(scale)
    if scale is not None and c is None:
        w = w.to(torch.float64) * scale[:, None]
    b, method = spectral.matrix_bound(w, env.certifier.max_bound)
    return fact(b * (c or 1.0), method + ("+bn" if scale is not None else ""))


def _uniform(scale: torch.Tensor | None) -> float | None:
    """|s| when a folded BatchNorm scales every channel alike (as at init): ‖diag(s)W‖ = |s|‖W‖, so W
    itself is bounded, in its own float32, without a float64 folded copy."""
    if scale is None or scale.numel() == 0:
        return None
    a = scale.abs()
    hi = float(a.max())
    return hi if float(a.min()) == hi else None


def conv(env: Env, node: Node, var: Sequence[bool]) -> LipschitzFact:
    w = tensor(env, node, "weight")
    if w is None or w.dim() < 3:
        return fact(None, "unknown", note="no weight")
    transposed = bool(attr(env, node, "transposed", default=False))
    groups = int(attr(env, node, "groups", default=1) or 1)
    kernel = tuple(int(k) for k in w.shape[2:])
    r = len(kernel)
    stride = attr(env, node, "stride", default=1)
    dil = attr(env, node, "dilation", default=1)
    m = spectral_conv.reuse_counts(kernel, spectral_conv.as_tuple(stride, r), spectral_conv.as_tuple(dil, r))
    if w.is_meta:
        rows, cols = int(w.shape[0]) // groups, int(w.shape[1]) * math.prod(kernel)
        return _estimate(env, node, rows, cols, math.sqrt(math.prod(m)))
    src = node if transposed else node.inputs[0] if node.inputs else None
    size = tuple(src.meta.shape[-r:]) if src is not None and src.meta is not None and len(src.meta.shape) > r else None
    w = w.detach()
    scale = env.fused.get(node.name)
    c = _uniform(scale)
    if scale is not None and c is None:
        w = w.to(torch.float64) * scale.view(-1, *([1] * (w.dim() - 1)))
    got = spectral_conv.conv_bound(
        w, stride=stride, padding=attr(env, node, "padding", default=0), dilation=dil, groups=groups,
        transposed=transposed, input_size=size, padding_mode=str(attr(env, node, "padding_mode", default="zeros")),
        bound=env.certifier.max_bound, budget=spectral_conv.CONV_BUDGET[env.bounds],
    )
    return fact(got.value * (c or 1.0), got.method + ("+bn" if scale is not None else ""), note=got.note)


def matmul(env: Env, node: Node, var: Sequence[bool]) -> LipschitzFact:
    if sum(var) != 1 or len(node.inputs) != 2:
        return fact(None, "product", local=True)
    const = node.inputs[0] if not var[0] else node.inputs[1]
    w = node_tensor(env, const)
    if not has_data(w) or w.dim() < 2:  # type: ignore[union-attr]
        return fact(None, "unknown", note="matmul with a constant of unknown value")
    mats = w.detach().reshape(-1, w.shape[-2], w.shape[-1])  # type: ignore[union-attr]
    return fact(env.certifier.max_bound(mats), "gram")


# --- norms ----------------------------------------------------------------------------------------

def norm(env: Env, node: Node, var: Sequence[bool]) -> LipschitzFact:
    kind = str(attr(env, node, "kind", default="layer"))
    if node.name in env.fused_into:
        return fact(1.0, f"fused into {env.fused_into[node.name]}")
    eps = attr(env, node, "eps", "variance_epsilon", default=None)
    if eps is None:
        dtype = node.meta.dtype if node.meta is not None else "float32"
        eps = torch.finfo(getattr(torch, dtype, torch.float32)).eps
    eps = float(eps)
    rv = tensor(env, node, "running_var")
    if kind == "batch" and rv is not None:
        return _bn_eval(env, node, rv, eps)
    gmax, cert = absmax(env, node, "weight")
    # Gemma-style norms scale by (1 + weight): |1 + w| <= 1 + |w| keeps the bound certified.
    gmax += abs(float(node.attrs.get("weight_offset", 0.0)))
    v = env.row_var.get(node.module_path or node.name)
    if v is not None:
        v_floor = v / 4
        note = f"valid for inputs with per-row variance >= {v_floor:.3g} (1/4 of the example input's minimum)"
        return fact(gmax / math.sqrt(v_floor + eps), "norm-local", local=True, certified=cert, note=note)
    return fact(gmax / math.sqrt(eps), "norm-global", certified=cert)


def _bn_eval(env: Env, node: Node, rv: torch.Tensor, eps: float) -> LipschitzFact:
    g = tensor(env, node, "weight")
    if rv.is_meta or (g is not None and g.is_meta):
        gmax, _ = absmax(env, node, "weight")
        st = stats_of(env, node, "running_var")
        v = st.mean if st is not None and st.is_constant else 1.0
        return fact(gmax / math.sqrt(v + eps), "bn-eval", certified=False)
    return fact(float(bn_scale(g, rv, eps).abs().max()), "bn-eval")


def bn_scale(gamma: torch.Tensor | None, rv: torch.Tensor, eps: float) -> torch.Tensor:
    s = 1.0 / torch.sqrt(rv.detach().to(torch.float64) + eps)
    return s * gamma.detach().to(torch.float64) if gamma is not None else s


def attention(env: Env, node: Node, var: Sequence[bool]) -> LipschitzFact:
    return fact(None, NONE_ATTN, local=True)


# elementwise selections / 1-Lipschitz maps of their variable operands (masks and conditions fixed)
_ONE_LIPSCHITZ = {"masked_fill", "where", "clamp", "clamp_min", "clamp_max", "abs", "neg", "flip", "roll",
                  "masked_scatter", "index_select", "gather", "narrow", "select", "slice"}


def unknown(env: Env, node: Node, var: Sequence[bool]) -> LipschitzFact:
    note = node.attrs.get("note")
    if note in ("Conv1D", "addmm") and node.params.get("weight"):
        return linear(env, node, var)  # x·W (+b) with W stored (in, out): σ_max(Wᵀ) = σ_max(W)
    if note in _ONE_LIPSCHITZ:
        return fact(1.0, "const")
    return fact(None, "unknown", note=str(note or node.target))


OPS: dict[Op, Callable[[Env, Node, Sequence[bool]], LipschitzFact]] = {
    Op.LINEAR: linear, Op.CONV: conv, Op.MATMUL: matmul, Op.NORM: norm, Op.ACTIVATION: activation,
    Op.SOFTMAX: softmax, Op.POOL: pool, Op.REDUCE: reduce, Op.RESHAPE: reshape, Op.SPLIT: const_one,
    Op.PAD: pad, Op.UPSAMPLE: upsample, Op.MUL: scalar_mul, Op.DIV: scalar_mul, Op.DROPOUT: const_one,
    Op.IDENTITY: const_one, Op.ATTENTION: attention, Op.RECURRENT: unknown, Op.OTHER: unknown,
}
