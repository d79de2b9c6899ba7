"""Lipschitz constants of the weight-free ops (THEORY §1.1, §1.2): activations, softmax, pooling,
reductions, reshapes, padding, upsampling and products with constants."""

from __future__ import annotations

import math
from typing import Sequence

from modelcheck.ir import Node, Op
from modelcheck.numerics import activations
from modelcheck.numerics import conv_bounds as spectral_conv
from modelcheck.passes.facts import LipschitzFact
from modelcheck.passes.lipschitz.env import (
    Env,
    absmax,
    attr,
    fact,
    has_data,
    node_tensor,
)

# --- ops --------------------------------------------------------------------------------

def activation(env: Env, node: Node, var: Sequence[bool]) -> LipschitzFact:
    fn = str(attr(env, node, "fn", default=node.target)).lower()
    if fn in ("leaky_relu", "leakyrelu"):
        return fact(max(1.0, abs(float(attr(env, node, "negative_slope", default=0.01)))), "const")
    if fn in ("elu",):
        return fact(max(1.0, abs(float(attr(env, node, "alpha", default=1.0)))), "const")
    if fn == "prelu":
        a, cert = absmax(env, node, "weight", default=0.25)
        return fact(max(1.0, a), "const", certified=cert)
    if fn == "glu":
        return fact(None, "product", local=True)
    row = activations.get(fn)
    c = row.lipschitz if row is not None else None
    return fact(c, "const") if c is not None else fact(None, "unknown", note=f"no constant for activation {fn!r}")


def softmax(env: Env, node: Node, var: Sequence[bool]) -> LipschitzFact:
    if not attr(env, node, "log", default=False):
        return fact(0.5, "const")  # ‖diag(p) − ppᵀ‖ ≤ ½
    dim = int(attr(env, node, "dim", default=-1))
    n = node.meta.shape[dim] if node.meta is not None and node.meta.shape else None
    return fact(1 + math.sqrt(n), "const") if n else fact(None, "unknown", note="log_softmax size unknown")


def _spatial(node: Node | None, r: int) -> tuple[int, ...] | None:
    if node is None or node.meta is None or len(node.meta.shape) < r:
        return None
    return tuple(int(s) for s in node.meta.shape[-r:])


def pool(env: Env, node: Node, var: Sequence[bool]) -> LipschitzFact:
    kind = str(attr(env, node, "kind", default="max"))
    src = node.inputs[0] if node.inputs else None
    if kind.startswith("adaptive"):
        osize = attr(env, node, "output_size", default=None)
        r = len(osize) if isinstance(osize, (tuple, list)) else max(len(node.meta.shape) - 2, 1) if node.meta else 1
        out, inn = _spatial(node, r), _spatial(src, r)
        if not out or not inn:
            return fact(None, "unknown", note="adaptive pool sizes unknown")
        total = 1.0
        for n, o in zip(inn, out):
            wins = [((i * n) // o, -(-((i + 1) * n) // o)) for i in range(o)]
            if kind.endswith("max"):  # max column count; avg: max column sum of 1/len (rows sum to 1)
                total *= max(sum(1 for s, e in wins if s <= j < e) for j in range(n))
            else:
                total *= max(sum(1 / (e - s) for s, e in wins if s <= j < e) for j in range(n))
        return fact(math.sqrt(total), "const")
    k = attr(env, node, "kernel", "kernel_size", default=None)
    if k is None:
        return fact(None, "unknown", note="pool kernel unknown")
    if isinstance(k, (tuple, list)):
        r = len(k)
    else:
        r = len(node.meta.shape) - 2 if node.meta is not None and len(node.meta.shape) > 2 else 1
    ks = spectral_conv.as_tuple(k, r)
    st = spectral_conv.as_tuple(attr(env, node, "stride", default=None) or ks, r)
    dl = spectral_conv.as_tuple(attr(env, node, "dilation", default=1), r)
    m = spectral_conv.reuse_counts(ks, st, dl)
    if kind == "max":
        return fact(math.sqrt(math.prod(m)), "const")
    pad = spectral_conv.as_tuple(attr(env, node, "padding", default=0), r)
    div = attr(env, node, "divisor_override", default=None)
    if div:
        return fact(math.sqrt(math.prod(m) * math.prod(ks)) / float(div), "const")
    if attr(env, node, "count_include_pad", default=True):
        return fact(math.sqrt(math.prod(m) / math.prod(ks)), "const")
    return fact(math.sqrt(math.prod(m) / math.prod(max(a - p, 1) for a, p in zip(ks, pad))), "const")


def reduce(env: Env, node: Node, var: Sequence[bool]) -> LipschitzFact:
    fn = str(attr(env, node, "fn", default=node.target)).lower()
    src = node.inputs[0] if node.inputs else None
    if src is None or src.meta is None or node.meta is None:
        return fact(None, "unknown", note="reduce sizes unknown")
    n = max(src.meta.numel, 1) / max(node.meta.numel, 1)
    if "mean" in fn:
        return fact(1 / math.sqrt(n), "const")
    if "sum" in fn:
        return fact(math.sqrt(n), "const")
    if any(s in fn for s in ("max", "min", "amax", "amin")):
        return fact(1.0, "const")
    return fact(None, "unknown", note=f"no bound for reduction {fn!r}")


def reshape(env: Env, node: Node, var: Sequence[bool]) -> LipschitzFact:
    src = node.inputs[0] if node.inputs else None
    if src is not None and src.meta is not None and node.meta is not None and node.meta.numel > src.meta.numel > 0:
        return fact(math.sqrt(node.meta.numel / src.meta.numel), "const", note="expand/repeat: uniform copies assumed")
    return fact(1.0, "const")


def pad(env: Env, node: Node, var: Sequence[bool]) -> LipschitzFact:
    mode = str(attr(env, node, "mode", default="constant"))
    if mode in ("constant", "zeros"):
        return fact(1.0, "const")
    p = list(attr(env, node, "pad", default=()) or ())
    src = node.inputs[0].meta if node.inputs and node.inputs[0].meta is not None else None
    total = 1
    for ax in range(len(p) // 2):
        n = src.shape[-1 - ax] if src is not None else max(p) + 1
        total *= spectral_conv.pad_copy_count(int(n), int(p[2 * ax]), int(p[2 * ax + 1]), mode)
    return fact(math.sqrt(total), "const")


def upsample(env: Env, node: Node, var: Sequence[bool]) -> LipschitzFact:
    src = node.inputs[0].meta if node.inputs and node.inputs[0].meta is not None else None
    if src is None or node.meta is None or len(src.shape) < 3:
        return fact(None, "unknown", note="upsample sizes unknown")
    ratios = [o / i for o, i in zip(node.meta.shape[2:], src.shape[2:]) if i]
    mode = str(attr(env, node, "mode", default="nearest"))
    if mode.startswith("nearest"):
        return fact(math.sqrt(math.prod(math.ceil(s) for s in ratios)), "const")
    # interpolation weights: rows sum to 1, columns to at most s+1 (×2 for cubic's signed weights)
    c = 2.0 if "cubic" in mode else 1.0
    return fact(math.sqrt(math.prod(c * (s + 1) for s in ratios)), "const")


def scalar_mul(env: Env, node: Node, var: Sequence[bool]) -> LipschitzFact:
    s = node.attrs.get("scalar")
    if s is not None:
        c = float(s) if node.op is Op.MUL else (1 / float(s) if float(s) != 0 else math.inf)
        return fact(abs(c), "const")
    if sum(var) >= 2:
        return fact(None, "product", local=True)
    if node.op is Op.DIV and var and var[-1]:
        return fact(None, "product", local=True, note="division by an activation")
    consts = [i for i, v in zip(node.inputs, var) if not v]
    mags = [_const_absmax(env, c) for c in consts]
    if not mags or any(m is None for m in mags):
        return fact(None, "unknown", note="product with a constant tensor of unknown magnitude")
    mag = math.prod(m for m in mags if m is not None)
    return fact(mag if node.op is Op.MUL else (1 / mag if mag else math.inf), "const")


def _const_absmax(env: Env, node: Node, depth: int = 0) -> float | None:
    """max|t| of an operand that does not depend on the input (a parameter, or e.g. RoPE's cos/sin)."""
    t = node_tensor(env, node)
    if has_data(t):
        return float(t.detach().abs().max())  # type: ignore[union-attr]
    if node.op is Op.SOFTMAX and not node.attrs.get("log"):
        return 1.0
    row = activations.get(str(node.attrs.get("fn", node.target)).lower()) if node.op is Op.ACTIVATION else None
    if row is not None and row.absmax is not None:
        return row.absmax(node.attrs)
    if depth < 8 and node.inputs and node.op in (Op.RESHAPE, Op.SPLIT, Op.DROPOUT, Op.IDENTITY, Op.CONCAT):
        mags = [_const_absmax(env, i, depth + 1) for i in node.inputs]
        return None if any(m is None for m in mags) else max(mags)  # type: ignore[type-var]
    if depth < 8 and node.op is Op.MUL and node.attrs.get("scalar") is not None and node.inputs:
        m = _const_absmax(env, node.inputs[0], depth + 1)
        return None if m is None else m * abs(float(node.attrs["scalar"]))
    for name in node.params.values():
        st = env.stats.get(name)
        if st is not None and math.isfinite(st.absmax):
            return st.absmax
    v = node.attrs.get("value")
    return abs(float(v)) if isinstance(v, (int, float)) else None


def const_one(env: Env, node: Node, var: Sequence[bool]) -> LipschitzFact:
    return fact(1.0, "const")
