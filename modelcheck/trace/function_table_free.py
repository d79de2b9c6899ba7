"""Handlers for the parameter-free function families: activations, softmax, attention, pooling,
reductions, joins and splits, dropout, padding and resampling."""

from __future__ import annotations

from typing import Any

from modelcheck.ir import Op
from modelcheck.layers import uniform
from modelcheck.trace.handlers import Args, Result, number, on, weight_slot
from modelcheck.trace.values import is_item

# name -> (canonical fn, [(attr, position, keyword, default)])
_ACTIVATIONS: dict[str, tuple[str, list[tuple[str, int, str, Any]]]] = {
    "relu": ("relu", []), "relu6": ("relu6", []), "selu": ("selu", []), "silu": ("silu", []),
    "mish": ("mish", []), "tanh": ("tanh", []), "sigmoid": ("sigmoid", []), "hardsigmoid": ("hardsigmoid", []),
    "hardswish": ("hardswish", []), "softsign": ("softsign", []), "logsigmoid": ("logsigmoid", []),
    "tanhshrink": ("tanhshrink", []),
    "leaky_relu": ("leaky_relu", [("negative_slope", 1, "negative_slope", 0.01)]),
    "elu": ("elu", [("alpha", 1, "alpha", 1.0)]),
    "celu": ("celu", [("alpha", 1, "alpha", 1.0)]),
    "hardtanh": ("hardtanh", [("min_val", 1, "min_val", -1.0), ("max_val", 2, "max_val", 1.0)]),
    "softplus": ("softplus", [("beta", 1, "beta", 1.0), ("threshold", 2, "threshold", 20.0)]),
    "threshold": ("threshold", [("threshold", 1, "threshold", 0.0), ("value", 2, "value", 0.0)]),
    "softshrink": ("softshrink", [("lambd", 1, "lambd", 0.5)]),
    "hardshrink": ("hardshrink", [("lambd", 1, "lambd", 0.5)]),
    "rrelu": ("rrelu", [("lower", 1, "lower", 1 / 8), ("upper", 2, "upper", 1 / 3)]),
    "glu": ("glu", [("dim", 1, "dim", -1)]),
}


@on(*_ACTIVATIONS)
def _activation(name: str, a: Args) -> Result:
    fn, spec = _ACTIVATIONS[name]
    attrs: dict[str, Any] = {"fn": fn}
    for attr, pos, kw, default in spec:
        v = a.get(pos, kw, default)
        attrs[attr] = v if attr == "dim" or number(v) is None else number(v)
    if fn == "hardtanh" and (attrs["min_val"], attrs["max_val"]) == (0.0, 6.0):
        attrs = {"fn": "relu6"}
    return Op.ACTIVATION, a.items()[:1], {}, attrs


@on("gelu")
def _gelu(name: str, a: Args) -> Result:
    approx = a.get(1, "approximate", "none")
    return Op.ACTIVATION, a.items()[:1], {}, {"fn": "gelu_tanh" if approx == "tanh" else "gelu"}


@on("prelu")
def _prelu(name: str, a: Args) -> Result:
    x, w = a.get(0, ("input", "self")), a.get(1, "weight")
    inputs, params = [x] if is_item(x) else [], {}
    weight_slot(inputs, params, "weight", w)
    t = getattr(w, "tensor", None)
    slope = 0.25
    if t is not None and not t.is_meta and t.numel():
        slope = float(t.detach().float().mean())
    return Op.ACTIVATION, inputs, params, {"fn": "prelu", "negative_slope": slope}


@on("clamp", "clamp_min", "clamp_max")
def _clamp(name: str, a: Args) -> Result:
    lo = number(a.get(1, "min")) if name != "clamp_max" else None
    hi = number(a.get(2 if name == "clamp" else 1, "max")) if name != "clamp_min" else None
    items = a.items()[:1]
    if lo == 0.0 and hi is None:
        return Op.ACTIVATION, items, {}, {"fn": "relu"}
    if lo == 0.0 and hi == 6.0:
        return Op.ACTIVATION, items, {}, {"fn": "relu6"}
    if lo is not None and hi is not None:
        return Op.ACTIVATION, items, {}, {"fn": "hardtanh", "min_val": lo, "max_val": hi}
    return Op.OTHER, a.items(), {}, {"note": name, "min": lo, "max": hi}


@on("softmax", "log_softmax", "softmin")
def _softmax(name: str, a: Args) -> Result:
    attrs: dict[str, Any] = {"dim": a.get(1, "dim"), "log": name == "log_softmax"}
    if name == "softmin":
        attrs["negate"] = True
    return Op.SOFTMAX, a.items()[:1], {}, attrs


@on("scaled_dot_product_attention")
def _sdpa(name: str, a: Args) -> Result:
    q, k, v, mask = a.get(0, "query"), a.get(1, "key"), a.get(2, "value"), a.get(3, "attn_mask")
    scale = number(a.get(6, "scale"))
    attrs = {"scale": scale, "is_causal": bool(a.get(5, "is_causal", False)),
             "dropout_p": number(a.get(4, "dropout_p", 0.0)) or 0.0, "enable_gqa": bool(a.get(7, "enable_gqa", False)),
             "masked": mask is not None}
    return Op.ATTENTION, [x for x in (q, k, v, mask) if is_item(x)], {}, attrs


# --- pooling, reductions --------------------------------------------------------------------------


def _pool_kind(name: str) -> str:
    for kind in ("adaptive_avg", "adaptive_max", "avg", "max", "lp"):
        if name.startswith(kind + "_pool") or name.startswith("fractional_" + kind):
            return kind
    return "max"


_POOLS = [f"{k}_pool{n}d" for k in ("max", "avg", "adaptive_avg", "adaptive_max", "lp") for n in (1, 2, 3)]


@on(*_POOLS, "fractional_max_pool2d", "fractional_max_pool3d")
def _pool(name: str, a: Args) -> Result:
    kind = _pool_kind(name)
    if kind.startswith("adaptive"):
        attrs: dict[str, Any] = {"kind": kind, "output_size": a.get(1, "output_size")}
    elif kind == "lp":
        attrs = {"kind": kind, "norm_type": a.get(1, "norm_type"), "kernel": a.get(2, "kernel_size"),
                 "stride": a.get(3, "stride")}
    else:
        attrs = {"kind": kind, "kernel": a.get(1, "kernel_size"), "stride": a.get(2, "stride"),
                 "padding": a.get(3, "padding", 0)}
        if kind == "max":
            attrs["dilation"] = a.get(4, "dilation", 1)
    if attrs.get("stride") in (None, [], ()):
        attrs["stride"] = attrs.get("kernel")
    return Op.POOL, a.items()[:1], {}, uniform(attrs)


@on("mean", "sum", "nanmean", "nansum")
def _reduce(name: str, a: Args) -> Result:
    dims = a.get(1, "dim")
    if isinstance(dims, (list, tuple)):
        dims = tuple(dims)
    elif isinstance(dims, int):
        dims = (dims,)
    return Op.REDUCE, a.items()[:1], {}, {"fn": name.removeprefix("nan"), "dims": dims,
                                          "keepdim": bool(a.get(2, "keepdim", False))}


# --- joins, splits, shape-changing -------------------------------------------------------------------


@on("cat", "stack", "hstack", "vstack", "dstack", "column_stack")
def _concat(name: str, a: Args) -> Result:
    implicit = {"hstack": 1, "vstack": 0, "dstack": 2, "column_stack": 1}
    dim = a.get(1, ("dim", "axis"), 0) if name in ("cat", "stack") else implicit[name]
    return Op.CONCAT, a.items(), {}, {"dim": dim, "stack": name == "stack"}


@on("chunk", "split", "split_with_sizes", "unbind", "tensor_split", "hsplit", "vsplit")
def _split(name: str, a: Args) -> Result:
    attrs: dict[str, Any] = {"fn": name, "dim": a.get(2, "dim", 0) if name != "unbind" else a.get(1, "dim", 0)}
    if name != "unbind":
        sizes = a.get(1, ("chunks", "split_size_or_sections", "split_size", "split_sizes", "sections"))
        attrs["sizes"] = tuple(sizes) if isinstance(sizes, list) else sizes
    return Op.SPLIT, a.items()[:1], {}, attrs


@on("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout",
    "feature_dropout", "native_dropout")
def _dropout(name: str, a: Args) -> Result:
    p = number(a.get(1, "p", 0.5))
    return Op.DROPOUT, a.items()[:1], {}, {"p": 0.5 if p is None else p, "kind": name,
                                           "training": bool(a.get(2, ("training", "train"), True))}


_PAD_MODES = {"constant_pad_nd": "constant", "reflection_pad": "reflect", "replication_pad": "replicate"}


@on("pad", "constant_pad_nd", *(f"{k}{n}d" for k in ("reflection_pad", "replication_pad") for n in (1, 2, 3)))
def _pad(name: str, a: Args) -> Result:
    mode = next((m for k, m in _PAD_MODES.items() if name.startswith(k)), None)
    if mode is None:
        mode = a.get(2, "mode", "constant")
    pad = a.get(1, ("pad", "padding"))
    value = number(a.get(3 if name == "pad" else 2, "value", 0.0)) if mode == "constant" else None
    return Op.PAD, a.items()[:1], {}, {"mode": mode, "pad": tuple(pad) if isinstance(pad, list) else pad,
                                       "value": value or 0.0}


_UPSAMPLE = ["interpolate", "upsample"] + [f"upsample_{m}" for m in (
    "nearest1d", "nearest2d", "nearest3d", "linear1d", "bilinear2d", "bicubic2d", "trilinear3d",
    "nearest_exact1d", "nearest_exact2d", "nearest_exact3d")]


@on(*_UPSAMPLE)
def _upsample(name: str, a: Args) -> Result:
    if name in ("interpolate", "upsample"):
        size, scale, mode = a.get(1, "size"), a.get(2, "scale_factor"), a.get(3, "mode", "nearest")
    else:
        mode = name.removeprefix("upsample_").rstrip("123d")
        size = a.get(1, "output_size")
        scale = a.kwargs.get("scale_factors") or (a.args[-1] if len(a.args) > 2 else None)
    if isinstance(scale, (list, tuple)):
        scale = scale[0] if len(set(scale)) == 1 else tuple(scale)  # (2.0, 2.0) is scale_factor=2.0
    if isinstance(scale, (int, float)):
        scale = float(scale)
    return Op.UPSAMPLE, a.items()[:1], {}, {"mode": mode, "scale": scale,
                                            "size": tuple(size) if isinstance(size, list) else size}


@on("identity")
def _identity(name: str, a: Args) -> Result:
    return Op.IDENTITY, a.items()[:1], {}, {}


# Functional normalisation and its pieces: the signal pass follows the statistic each computes
# (issue 11), so the arguments that decide it (p, dim, exponent) are kept.
def _dims(v: Any) -> Any:
    return tuple(int(d) for d in v) if isinstance(v, (list, tuple)) else (int(v) if number(v) is not None else None)


@on("normalize")
def _normalize(name: str, a: Args) -> Result:
    p = number(a.get(1, "p", 2.0))
    return Op.OTHER, a.items()[:1], {}, {"note": "normalize", "p": p, "dim": _dims(a.get(2, "dim", 1))}


@on("norm", "vector_norm", "linalg_vector_norm")
def _norm(name: str, a: Args) -> Result:
    p = a.get(1, ("p", "ord"), 2.0)
    return Op.OTHER, a.items()[:1], {}, {"note": "norm", "p": number(p) if p != "fro" else 2.0,
                                         "dim": _dims(a.get(2, "dim", None))}


@on("pow")
def _pow(name: str, a: Args) -> Result:
    e = a.get(1, "exponent")
    return Op.OTHER, a.items(), {}, {"note": "pow", **({"exponent": number(e)} if number(e) is not None else {})}
