"""The parametric handlers (linear, conv, norm, embedding, binary arithmetic) behind :func:`modelcheck.trace.functions.lower_function`, keyed by canonical name.

Each handler takes ``(name, args)`` and returns ``(op, operands, params, attrs)``. Argument positions
follow ``torch.nn.functional`` (``F.batch_norm(input, running_mean, running_var, weight, bias, ...)``).
"""

from __future__ import annotations

from typing import Any

from modelcheck.ir import Op
from modelcheck.layers import ntuple
from modelcheck.trace.handlers import Args, Result, number, on, value_shape, weight_slot
from modelcheck.trace.values import ParamRef, is_item

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
    shp = value_shape(w) or (None, None)
    return Op.LINEAR, inputs, params, {"in_features": shp[-1], "out_features": shp[0], "bias": b is not None}


@on("addmm")
def _addmm(name: str, a: Args) -> Result:
    bias, x, w = a.get(0, ("input", "self")), a.get(1, "mat1"), a.get(2, "mat2")
    if isinstance(w, ParamRef):  # x @ W + b with W stored (in, out), as in GPT-2's Conv1D
        inputs, params = [x] if is_item(x) else [], {"weight": w}
        weight_slot(inputs, params, "bias", bias)
        shp = value_shape(w) or (None, None)
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
    shp = value_shape(w)
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
    shp = value_shape(w) or (None, None)
    return Op.EMBEDDING, inputs, params, {"num_embeddings": shp[0], "embedding_dim": shp[-1],
                                          "padding_idx": a.get(2, "padding_idx")}


