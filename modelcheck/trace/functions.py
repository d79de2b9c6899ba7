"""Tensor functions -> IR op kinds: canonical names and one small handler per family.

The same table serves the three tracers. They name what was called through :func:`canonical`
(``operator.add``, ``Tensor.__radd__``, ``F.relu``, ``aten.relu.default`` ...) and pass arguments in
the layout of the ``torch.nn.functional`` / ``torch`` function; export's aten layouts that differ
(embedding, batch_norm, instance_norm) are reordered by :func:`from_aten` first.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from modelcheck.ir import Op
from modelcheck.trace import function_table as _parametric  # noqa: F401  (registers its handlers)
from modelcheck.trace import function_table_free as _free  # noqa: F401  (registers its handlers)
from modelcheck.trace import handlers as _t
from modelcheck.trace.handlers import Args
from modelcheck.trace.values import ParamRef


class Spec(NamedTuple):
    op: Op
    inputs: list[Any]  # Value / ParamRef / ConstRef operands, in order
    params: dict[str, ParamRef]  # weight slots filled by parameters
    attrs: dict[str, Any]


_RENAME = {
    "truediv": "div", "true_divide": "div", "divide": "div", "multiply": "mul", "subtract": "sub",
    "concat": "cat", "concatenate": "cat", "log_sigmoid": "logsigmoid", "swish": "silu", "expit": "sigmoid",
    "clip": "clamp", "absolute": "abs", "negative": "neg", "moveaxis": "movedim", "swapaxes": "transpose",
    "swapdims": "transpose", "_unsafe_view": "view", "_to_copy": "to", "_reshape_alias": "reshape",
    "unsafe_split": "split", "unsafe_chunk": "chunk", "_softmax": "softmax", "_log_softmax": "log_softmax",
    "_prelu_kernel": "prelu", "rrelu_with_noise": "rrelu", "max_pool2d_with_indices": "max_pool2d",
    "max_pool3d_with_indices": "max_pool3d", "_adaptive_avg_pool2d": "adaptive_avg_pool2d",
    "_adaptive_avg_pool3d": "adaptive_avg_pool3d", "floordiv": "floor_divide", "bitwise_and": "and",
    "bitwise_or": "or", "bitwise_not": "not", "invert": "not", "logical_not": "not",
    "unsqueeze_copy": "unsqueeze", "view_copy": "view",
    "_pad_circular": "pad", "_pad_enum": "pad", "mH": "mT", "H": "mT", "T": "mT", "adjoint": "mT",
}
_REVERSIBLE = {"add", "sub", "mul", "truediv", "div", "matmul", "pow", "floordiv", "mod", "and", "or", "xor"}


def canonical(target: Any) -> str:
    """One name per function, whoever recorded it: ``__radd__`` -> ``radd``, ``relu_`` -> ``relu``."""
    if isinstance(target, str):
        name = target
    elif isinstance(target, torch._ops.OpOverload):
        name = target._schema.name.split("::")[-1]
    elif getattr(target, "__name__", None) == "__get__" and hasattr(target, "__self__"):
        name = getattr(target.__self__, "__name__", "getattr")  # Tensor.T, Tensor.data, ...
    else:
        name = getattr(target, "__name__", None) or type(target).__name__
    if name.startswith("__") and name.endswith("__") and len(name) > 4:
        core = name[2:-2]
        if core[:1] == "r" and core[1:] in _REVERSIBLE:
            name = "r" + _RENAME.get(core[1:], core[1:])
        elif core[:1] == "i" and core[1:] in _REVERSIBLE:
            name = core[1:]
        else:
            name = core
    elif name.endswith("_") and not name.startswith("_") and len(name) > 1:
        name = name[:-1]  # in-place variant
    elif name.startswith("i") and name[1:] in _REVERSIBLE:  # operator.iadd
        name = name[1:]
    return _RENAME.get(name, name)


# aten argument orders that differ from torch.nn.functional's: new position -> old position.
_ATEN_ORDER = {
    "embedding": (1, 0),
    "batch_norm": (0, 3, 4, 1, 2, 5, 6, 7),
    "instance_norm": (0, 3, 4, 1, 2, 5, 6, 7),
}
_C_FUNCTIONS = {getattr(torch, n, None) for n in _ATEN_ORDER}


def from_aten(name: str, args: tuple[Any, ...], target: Any = None) -> tuple[Any, ...]:
    """Reorder positional arguments of an aten (or ``torch._C``) call into the functional layout."""
    order = _ATEN_ORDER.get(name)
    if order is None or (target is not None and not isinstance(target, torch._ops.OpOverload)
                         and target not in _C_FUNCTIONS):
        return args
    if len(args) < len(order):
        return args  # keywords carry the rest; positions beyond are rare
    # embedding keeps its trailing options; the norms drop aten's cudnn_enabled flag.
    rest = args[len(order):] if name == "embedding" else ()
    out = tuple(args[i] for i in order) + tuple(rest)
    if name == "embedding" and isinstance(out[2:3], tuple) and out[2:3] == (-1,):
        out = out[:2] + (None,) + out[3:]  # aten's "no padding_idx"
    return out


def lower_function(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Spec:
    a = Args(args, kwargs)
    handler = _t.HANDLERS.get(name)
    if handler is not None:
        op, inputs, params, attrs = handler(name, a)
        return Spec(op, inputs, params, attrs)
    if name in _t.RESHAPE:
        items = a.items()
        return Spec(Op.RESHAPE, items[:1], {}, {"fn": name})
    if name in _t.FACTORIES:
        return Spec(Op.CONST, [], {}, {"note": name})
    return Spec(Op.OTHER, a.items(), {}, {"note": name})


__all__ = ["Spec", "canonical", "from_aten", "lower_function"]
