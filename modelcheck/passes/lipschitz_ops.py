"""Per-op Lipschitz constants (THEORY §1.1, §1.2): one function per op kind, returning a
:class:`LipschitzFact` for the op as a map of its *variable* inputs (constants and parameters fixed).

Certified where the weights exist; Bai–Yin estimates from ``init_stats`` on meta (``certified=False``).
Norm layers other than eval BatchNorm get the *local* bound max|γ|/√(v_floor+ε) when the example input's
row statistics were captured, else the global max|γ|/√ε.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from modelcheck import spectral
from modelcheck.ir import Graph, Node, Op
from modelcheck.passes.facts import INIT_STATS, LipschitzFact, ParamStats

# max|φ′| (THEORY §1.2), rounded up in the last digit so they stay upper bounds.
ACTIVATIONS: dict[str, float] = {
    "relu": 1.0, "relu6": 1.0, "tanh": 1.0, "hardtanh": 1.0, "softsign": 1.0, "softplus": 1.0,
    "logsigmoid": 1.0, "tanhshrink": 1.0, "softshrink": 1.0, "identity": 1.0, "linear": 1.0,
    "abs": 1.0, "neg": 1.0, "sin": 1.0, "cos": 1.0, "rrelu": 1.0, "celu": 1.0,
    "sigmoid": 0.25, "hardsigmoid": 0.16666668, "gelu": 1.12891, "gelu_tanh": 1.12900,
    "silu": 1.09984, "swish": 1.09984, "mish": 1.08850, "hardswish": 1.5, "selu": 1.75810,
    "quick_gelu": 1.09984, "erf": 2 / math.sqrt(math.pi) + 1e-12,
}


@dataclass
class Env:
    """What the per-op functions may read."""

    graph: Graph
    model: Any = None  # nn.Module when available (attribute fallbacks)
    row_var: dict[str, float] = field(default_factory=dict)  # norm module path -> min row v at x
    fused: dict[str, torch.Tensor] = field(default_factory=dict)  # weight-op node -> BN scale folded in
    fused_into: dict[str, str] = field(default_factory=dict)  # BN node -> weight-op node label
    notes: list[str] = field(default_factory=list)

    @property
    def stats(self) -> dict[str, ParamStats]:
        return self.graph.facts.get(INIT_STATS) or {}


def tensor(env: Env, node: Node, role: str) -> torch.Tensor | None:
    """A node's parameter/buffer by role, falling back to ``<module>.<role>`` and the live module."""
    t = env.graph.param(node, role)
    if t is None and node.module_path:
        name = f"{node.module_path}.{role}"
        t = env.graph.parameters.get(name, env.graph.buffers.get(name))
    if t is None and env.model is not None and node.module_path:
        mod = submodule(env, node)
        got = getattr(mod, role, None) if mod is not None else None
        t = got if isinstance(got, torch.Tensor) else None
    return t


def submodule(env: Env, node: Node) -> Any:
    if env.model is None or not node.module_path:
        return None
    try:
        return env.model.get_submodule(node.module_path)
    except Exception:
        return None


def attr(env: Env, node: Node, *names: str, default: Any = None) -> Any:
    for n in names:
        if node.attrs.get(n) is not None:
            return node.attrs[n]
    mod = submodule(env, node)
    for n in names:
        if mod is not None and getattr(mod, n, None) is not None:
            return getattr(mod, n)
    return default


def _has_data(t: torch.Tensor | None) -> bool:
    return t is not None and not t.is_meta and t.numel() > 0


def _stats_of(env: Env, node: Node, role: str) -> ParamStats | None:
    name = node.params.get(role) or (f"{node.module_path}.{role}" if node.module_path else "")
    return env.stats.get(name) if name else None


def absmax(env: Env, node: Node, role: str, default: float = 1.0) -> tuple[float, bool]:
    """(max |param|, certified) — from the tensor, else the init statistics (estimate)."""
    t = tensor(env, node, role)
    if _has_data(t):
        return float(t.detach().abs().max()), True  # type: ignore[union-attr]
    st = _stats_of(env, node, role)
    if st is not None and math.isfinite(st.absmax):
        return st.absmax, st.is_constant
    return default, t is None


def fact(bound: float | None, method: str, *, local: bool = False, certified: bool = True, note: str = "") -> LipschitzFact:
    return LipschitzFact(bound, local, method, None, certified, note)


NONE_ATTN = "dot-product attention"


# --- weight ops ---------------------------------------------------------------------------------------

def _estimate(env: Env, node: Node, rows: int, cols: int, scale: float = 1.0) -> LipschitzFact:
    st = _stats_of(env, node, "weight")
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
    if scale is not None:
        w = w.to(torch.float64) * scale[:, None]
    b, method = spectral.matrix_bound(w)
    return fact(b, method + ("+bn" if scale is not None else ""))


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
    m = [math.ceil(k / (s // math.gcd(s, d))) for k, s, d in zip(kernel, spectral._tup(stride, r), spectral._tup(dil, r))]
    if w.is_meta:
        rows, cols = int(w.shape[0]) // groups, int(w.shape[1]) * math.prod(kernel)
        return _estimate(env, node, rows, cols, math.sqrt(math.prod(m)))
    src = node if transposed else node.inputs[0] if node.inputs else None
    size = tuple(src.meta.shape[-r:]) if src is not None and src.meta is not None and len(src.meta.shape) > r else None
    w = w.detach()
    scale = env.fused.get(node.name)
    if scale is not None:
        w = w.to(torch.float64) * scale.view(-1, *([1] * (w.dim() - 1)))
    got = spectral.conv_bound(
        w, stride=stride, padding=attr(env, node, "padding", default=0), dilation=dil, groups=groups,
        transposed=transposed, input_size=size, padding_mode=str(attr(env, node, "padding_mode", default="zeros")),
    )
    return fact(got.value, got.method + ("+bn" if scale is not None else ""), note=got.note)


def matmul(env: Env, node: Node, var: Sequence[bool]) -> LipschitzFact:
    if sum(var) != 1 or len(node.inputs) != 2:
        return fact(None, "product", local=True)
    const = node.inputs[0] if not var[0] else node.inputs[1]
    w = _node_tensor(env, const)
    if not _has_data(w) or w.dim() < 2:  # type: ignore[union-attr]
        return fact(None, "unknown", note="matmul with a constant of unknown value")
    mats = w.detach().reshape(-1, w.shape[-2], w.shape[-1])  # type: ignore[union-attr]
    return fact(float(spectral.gram_bound_batched(mats).max()), "gram")


def _node_tensor(env: Env, node: Node) -> torch.Tensor | None:
    for role in ("value", "weight", *node.params.keys()):
        t = env.graph.param(node, role)
        if t is not None:
            return t
    name = node.target
    return env.graph.parameters.get(name, env.graph.buffers.get(name))


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
    v = env.row_var.get(node.module_path or node.name)
    if v is not None:
        v_floor = v / 4
        return fact(gmax / math.sqrt(v_floor + eps), "norm-local", local=True, certified=cert,
                    note=f"valid for inputs with per-row variance >= {v_floor:.3g} (1/4 of the example input's minimum)")
    return fact(gmax / math.sqrt(eps), "norm-global", certified=cert)


def _bn_eval(env: Env, node: Node, rv: torch.Tensor, eps: float) -> LipschitzFact:
    g = tensor(env, node, "weight")
    if rv.is_meta or (g is not None and g.is_meta):
        gmax, _ = absmax(env, node, "weight")
        st = _stats_of(env, node, "running_var")
        v = st.mean if st is not None and st.is_constant else 1.0
        return fact(gmax / math.sqrt(v + eps), "bn-eval", certified=False)
    return fact(float(bn_scale(g, rv, eps).abs().max()), "bn-eval")


def bn_scale(gamma: torch.Tensor | None, rv: torch.Tensor, eps: float) -> torch.Tensor:
    s = 1.0 / torch.sqrt(rv.detach().to(torch.float64) + eps)
    return s * gamma.detach().to(torch.float64) if gamma is not None else s


# --- everything else --------------------------------------------------------------------------------

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
    c = ACTIVATIONS.get(fn)
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
    r = len(k) if isinstance(k, (tuple, list)) else (len(node.meta.shape) - 2 if node.meta and len(node.meta.shape) > 2 else 1)
    ks = spectral._tup(k, r)
    st = spectral._tup(attr(env, node, "stride", default=None) or ks, r)
    dl = spectral._tup(attr(env, node, "dilation", default=1), r)
    m = [math.ceil(a / (s // math.gcd(s, d))) for a, s, d in zip(ks, st, dl)]
    if kind == "max":
        return fact(math.sqrt(math.prod(m)), "const")
    pad = spectral._tup(attr(env, node, "padding", default=0), r)
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
        total *= spectral.pad_copy_count(int(n), int(p[2 * ax]), int(p[2 * ax + 1]), mode)
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


def _const_absmax(env: Env, node: Node) -> float | None:
    t = _node_tensor(env, node)
    if _has_data(t):
        return float(t.detach().abs().max())  # type: ignore[union-attr]
    for role, name in node.params.items():
        st = env.stats.get(name)
        if st is not None and math.isfinite(st.absmax):
            return st.absmax
    v = node.attrs.get("value")
    return abs(float(v)) if isinstance(v, (int, float)) else None


def const_one(env: Env, node: Node, var: Sequence[bool]) -> LipschitzFact:
    return fact(1.0, "const")


def attention(env: Env, node: Node, var: Sequence[bool]) -> LipschitzFact:
    return fact(None, NONE_ATTN, local=True)


def unknown(env: Env, node: Node, var: Sequence[bool]) -> LipschitzFact:
    if node.attrs.get("note") == "Conv1D":  # Hugging Face's transposed Linear: σ_max(Wᵀ) = σ_max(W)
        return linear(env, node, var)
    what = node.attrs.get("note") or node.target
    return fact(None, "unknown", note=f"no Lipschitz bound for {what}")


OPS: dict[Op, Callable[[Env, Node, Sequence[bool]], LipschitzFact]] = {
    Op.LINEAR: linear, Op.CONV: conv, Op.MATMUL: matmul, Op.NORM: norm, Op.ACTIVATION: activation,
    Op.SOFTMAX: softmax, Op.POOL: pool, Op.REDUCE: reduce, Op.RESHAPE: reshape, Op.SPLIT: const_one,
    Op.PAD: pad, Op.UPSAMPLE: upsample, Op.MUL: scalar_mul, Op.DIV: scalar_mul, Op.DROPOUT: const_one,
    Op.IDENTITY: const_one, Op.ATTENTION: attention, Op.RECURRENT: unknown, Op.OTHER: unknown,
}
