"""The handlers behind :func:`modelcheck.trace.functions.lower_function`, keyed by canonical name.

Each handler takes ``(name, args)`` and returns ``(op, operands, params, attrs)``. Argument positions
follow ``torch.nn.functional`` (``F.batch_norm(input, running_mean, running_var, weight, bias, ...)``).
"""

from __future__ import annotations

import numbers
from typing import Any, Callable

from modelcheck.ir import Op
from modelcheck.trace.values import ParamRef, flatten, is_item

Result = tuple[Op, list[Any], dict[str, ParamRef], dict[str, Any]]
HANDLERS: dict[str, Callable[[str, "Args"], Result]] = {}

RESHAPE = frozenset({
    "view", "reshape", "permute", "transpose", "t", "mT", "flatten", "unflatten", "contiguous", "expand",
    "expand_as", "broadcast_to", "repeat", "tile", "repeat_interleave", "narrow", "slice", "select",
    "getitem", "index", "index_select", "gather", "take_along_dim", "unsqueeze", "squeeze", "clone", "to",
    "type", "type_as", "float", "double", "half", "bfloat16", "cpu", "cuda", "view_as", "reshape_as",
    "movedim", "flip", "roll", "alias", "as_strided", "detach", "data", "requires_grad", "pixel_shuffle",
    "pixel_unshuffle", "channel_shuffle", "native_channel_shuffle", "lift_fresh_copy", "real", "diagonal",
    "tril", "triu", "squeeze_", "unfold", "masked_select", "nonzero_static",
})
FACTORIES = frozenset({
    "zeros", "ones", "full", "empty", "arange", "linspace", "logspace", "eye", "tensor", "as_tensor",
    "scalar_tensor", "randn", "rand", "randint", "randperm", "normal", "zeros_like", "ones_like",
    "full_like", "empty_like", "rand_like", "randn_like", "randint_like", "new_zeros", "new_ones",
    "new_full", "new_empty", "new_tensor", "tril_indices", "triu_indices", "empty_strided", "bernoulli",
})


class Args:
    """Positional-or-keyword access to a call's arguments."""

    def __init__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.args, self.kwargs = args, kwargs

    def get(self, i: int, name: str | tuple[str, ...] = (), default: Any = None) -> Any:
        if 0 <= i < len(self.args):
            return self.args[i]
        for n in (name,) if isinstance(name, str) else name:
            if n in self.kwargs:
                return self.kwargs[n]
        return default

    def items(self) -> list[Any]:
        return [x for x in flatten([list(self.args), self.kwargs]) if is_item(x)]


def number(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, numbers.Number) and type(x).__name__ not in ("SymInt", "SymFloat"):
        return None
    try:
        return float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def uniform(attrs: dict[str, Any], keys: tuple[str, ...] = ("kernel", "stride", "padding", "dilation",
                                                             "output_size")) -> dict[str, Any]:
    """Pool geometry as modules spell it: ``[2, 2]`` / ``(2,)`` -> ``2``; mixed sizes stay tuples."""
    for key in keys:
        v = attrs.get(key)
        if isinstance(v, (list, tuple)) and v:
            attrs[key] = v[0] if len(set(v)) == 1 else tuple(v)
    return attrs


def ntuple(v: Any, n: int) -> Any:
    """Conv geometry as modules spell it: a tuple per spatial dim (``"same"`` stays a string)."""
    if isinstance(v, (list, tuple)):
        return tuple(v) if len(v) == n or n == 0 else tuple(v[:1]) * n
    return (v,) * n if isinstance(v, int) and n else v


def weight_slot(inputs: list[Any], params: dict[str, ParamRef], role: str, w: Any) -> None:
    """A parameter in a weight slot becomes ``params[role]``; a computed weight is an operand."""
    if isinstance(w, ParamRef):
        params[role] = w
    elif is_item(w):
        inputs.append(w)


def on(*names: str) -> Callable[[Callable[[str, Args], Result]], Callable[[str, Args], Result]]:
    def wrap(fn: Callable[[str, Args], Result]) -> Callable[[str, Args], Result]:
        for n in names:
            HANDLERS[n] = fn
        return fn

    return wrap


def _shape(x: Any) -> tuple[int, ...] | None:
    t = getattr(x, "tensor", None)
    if t is not None:
        return tuple(int(s) for s in t.shape)
    meta = getattr(x, "meta", None)
    return tuple(meta.shape) if meta is not None else None


# --- arithmetic -----------------------------------------------------------------------------------

_BINARY = {"add": Op.ADD, "radd": Op.ADD, "sub": Op.SUB, "rsub": Op.SUB, "mul": Op.MUL, "rmul": Op.MUL,
           "div": Op.DIV, "rdiv": Op.DIV}


@on(*_BINARY)
def _binary(name: str, a: Args) -> Result:
    x, y = a.get(0, ("input", "self")), a.get(1, "other")
    if name.startswith("r"):  # x.__rsub__(y) is y - x
        x, y = y, x
    op = _BINARY[name]
    attrs: dict[str, Any] = {}
    cx, cy = number(x), number(y)
    if cx is not None or cy is not None:
        attrs["scalar"] = cx if cx is not None else cy
    alpha = number(a.kwargs.get("alpha"))
    if alpha is not None and alpha != 1:
        attrs["alpha"] = alpha
    if a.kwargs.get("rounding_mode"):
        attrs["rounding_mode"] = a.kwargs["rounding_mode"]
    if cx is not None and is_item(y) and op in (Op.SUB, Op.DIV):
        attrs["reversed"] = True  # c - x / c / x
        if op is Op.DIV:
            return Op.OTHER, [y], {}, {"note": "rdiv", **attrs}
    return op, [v for v in (x, y) if is_item(v)], {}, attrs


@on("neg")
def _neg(name: str, a: Args) -> Result:
    return Op.MUL, a.items()[:1], {}, {"scalar": -1.0}


# --- weight-bearing functions ---------------------------------------------------------------------


@on("linear")
def _linear(name: str, a: Args) -> Result:
    x, w, b = a.get(0, "input"), a.get(1, "weight"), a.get(2, "bias")
    inputs, params = [x] if is_item(x) else [], {}
    if not isinstance(w, ParamRef):  # x @ w.T with a computed weight
        return Op.MATMUL, inputs + [v for v in (w, b) if is_item(v)], {}, {"note": "linear"}
    weight_slot(inputs, params, "weight", w)
    weight_slot(inputs, params, "bias", b)
    shp = _shape(w) or (None, None)
    return Op.LINEAR, inputs, params, {"in_features": shp[-1], "out_features": shp[0], "bias": b is not None}


@on("addmm")
def _addmm(name: str, a: Args) -> Result:
    bias, x, w = a.get(0, ("input", "self")), a.get(1, "mat1"), a.get(2, "mat2")
    if isinstance(w, ParamRef):  # x @ W + b with W stored (in, out), as in GPT-2's Conv1D
        inputs, params = [x] if is_item(x) else [], {"weight": w}
        weight_slot(inputs, params, "bias", bias)
        shp = _shape(w) or (None, None)
        return Op.OTHER, inputs, params, {"note": "addmm", "in_features": shp[0], "out_features": shp[-1],
                                          "weight_layout": "in_out"}
    return Op.MATMUL, [v for v in (x, w, bias) if is_item(v)], {}, {"note": "addmm"}


@on("matmul", "rmatmul", "mm", "bmm", "dot", "inner", "outer", "vdot", "tensordot", "baddbmm", "addbmm", "einsum")
def _matmul(name: str, a: Args) -> Result:
    attrs: dict[str, Any] = {"note": name} if name not in ("matmul", "rmatmul") else {}
    items = a.items()
    if name in ("baddbmm", "addbmm") and len(items) == 3:
        items = items[1:] + items[:1]  # the two factors first, the added term last
    if name == "rmatmul":
        items = items[::-1]
    if name == "einsum":
        attrs["equation"] = a.get(0, "equation")
    return Op.MATMUL, items, {}, attrs


_CONV_LAYOUT = {  # name -> positions of stride, padding, dilation, groups, output_padding, transposed
    "conv": (3, 4, 5, 6, None, None),
    "conv_transpose": (3, 4, 7, 6, 5, None),
    "convolution": (3, 4, 5, 8, 7, 6),
}


@on("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "convolution", "_convolution")
def _conv(name: str, a: Args) -> Result:
    kind = "conv_transpose" if name.startswith("conv_transpose") else "convolution" if "convolution" in name else "conv"
    s, p, d, g, op_, tr = _CONV_LAYOUT[kind]
    x, w, b = a.get(0, "input"), a.get(1, "weight"), a.get(2, "bias")
    inputs, params = [x] if is_item(x) else [], {}
    weight_slot(inputs, params, "weight", w)
    weight_slot(inputs, params, "bias", b)
    transposed = kind == "conv_transpose" or bool(tr is not None and a.get(tr, "transposed", False))
    shp = _shape(w)
    nd = len(shp) - 2 if shp else 0
    attrs = {"stride": ntuple(a.get(s, "stride", 1), nd), "padding": ntuple(a.get(p, "padding", 0), nd),
             "dilation": ntuple(a.get(d, "dilation", 1), nd), "groups": a.get(g, "groups", 1),
             "transposed": transposed, "kernel_size": tuple(shp[2:]) if shp else None, "bias": b is not None}
    if op_ is not None:
        attrs["output_padding"] = ntuple(a.get(op_, "output_padding", 0), nd)
    return Op.CONV, inputs, params, attrs


_NORM_SLOTS = {  # name -> (kind, {role: position}, eps position, training position)
    "layer_norm": ("layer", {"weight": 2, "bias": 3}, 4, None),
    "group_norm": ("group", {"weight": 2, "bias": 3}, 4, None),
    "rms_norm": ("rms", {"weight": 2}, 3, None),
    "batch_norm": ("batch", {"running_mean": 1, "running_var": 2, "weight": 3, "bias": 4}, 7, 5),
    "instance_norm": ("instance", {"running_mean": 1, "running_var": 2, "weight": 3, "bias": 4}, 7, None),
}
_ROLE_KW = {"running_mean": "running_mean", "running_var": "running_var", "weight": "weight", "bias": "bias"}


@on(*_NORM_SLOTS)
def _norm(name: str, a: Args) -> Result:
    kind, slots, eps_at, train_at = _NORM_SLOTS[name]
    x = a.get(0, "input")
    inputs, params = [x] if is_item(x) else [], {}
    for role, pos in slots.items():
        weight_slot(inputs, params, role, a.get(pos, _ROLE_KW[role]))
    eps = number(a.get(eps_at, "eps"))
    attrs: dict[str, Any] = {"kind": kind, "eps": eps if eps is not None or kind == "rms" else 1e-5,
                             "affine": "weight" in params}
    if kind == "group":
        attrs["num_groups"] = a.get(1, "num_groups")
    if kind in ("layer", "rms"):
        shape = a.get(1, "normalized_shape")
        attrs["normalized_shape"] = tuple(shape) if isinstance(shape, (list, tuple)) else shape
    if train_at is not None:
        attrs["training"] = bool(a.get(train_at, "training", False))
    return Op.NORM, inputs, params, attrs


@on("embedding", "embedding_bag")
def _embedding(name: str, a: Args) -> Result:
    ids, w = a.get(0, "input"), a.get(1, "weight")
    inputs, params = [ids] if is_item(ids) else [], {}
    weight_slot(inputs, params, "weight", w)
    shp = _shape(w) or (None, None)
    return Op.EMBEDDING, inputs, params, {"num_embeddings": shp[0], "embedding_dim": shp[-1],
                                          "padding_idx": a.get(2, "padding_idx")}


from modelcheck.trace import function_table_more as _more  # noqa: E402,F401  (registers the rest)
