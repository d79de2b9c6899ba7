"""The handler registry behind :func:`modelcheck.trace.functions.lower_function`: how a handler is
declared (:func:`on`), what it receives (:class:`Args`) and returns (``Result``), and the small helpers
every handler table shares. The tables themselves (``function_table``, ``function_table_free``)
register into :data:`HANDLERS` when imported.
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


def value_shape(x: Any) -> tuple[int, ...] | None:
    t = getattr(x, "tensor", None)
    if t is not None:
        return tuple(int(s) for s in t.shape)
    meta = getattr(x, "meta", None)
    return tuple(meta.shape) if meta is not None else None
