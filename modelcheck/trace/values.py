"""What the tracers pass to the lowering: symbolic stand-ins for tensors, and tensor metadata.

A tracer replaces every tensor it sees by one of three references before calling the builder:
``Value`` (an output of a node already in the graph), ``ParamRef`` (a parameter or buffer, by its
canonical qualified name) or ``ConstRef`` (a tensor created outside the graph). Parameters and
constants become nodes only when an op uses them as a tensor operand (``Builder.node_of``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

import torch

from modelcheck.ir import Node, TensorMeta


@dataclass(frozen=True, eq=False)
class Value:
    """Output ``index`` of ``node`` (None: the node's only output)."""

    node: Node
    index: int | None = None
    meta: TensorMeta | None = None


@dataclass(frozen=True, eq=False)
class ParamRef:
    name: str  # canonical qualified name (the first of tied names, as named_parameters gives it)
    tensor: torch.Tensor


@dataclass(frozen=True, eq=False)
class ConstRef:
    tensor: torch.Tensor | None  # None: a constant whose value the tracer never saw


Item = (Value, ParamRef, ConstRef)


def is_item(x: object) -> bool:
    return isinstance(x, Item)


def tensor_meta(t: Any) -> TensorMeta | None:
    if not isinstance(t, torch.Tensor):
        return None
    try:
        shape = tuple(int(s) for s in t.shape)
    except (TypeError, RuntimeError):  # unbacked symbolic sizes
        shape = tuple(-1 for _ in t.shape)
    return TensorMeta(shape, str(t.dtype).removeprefix("torch."))


def scalar_value(t: Any) -> float | None:
    """The value of a real one-element floating/int tensor (None on meta or fake tensors)."""
    if not isinstance(t, torch.Tensor) or t.numel() != 1 or t.is_meta or t.is_complex():
        return None
    if type(t).__name__ in ("FakeTensor", "FunctionalTensor"):
        return None
    try:
        return float(t.detach().reshape(()).item())
    except Exception:
        return None


def _is_leaf(x: object) -> bool:
    return isinstance(x, torch.Tensor) or is_item(x)


def flatten(obj: Any) -> list[Any]:
    """Tensors (or references) in ``obj``, depth first: tuples, lists, dicts, dataclasses."""
    out: list[Any] = []

    def walk(o: Any) -> None:
        if _is_leaf(o):
            out.append(o)
        elif isinstance(o, (tuple, list)):
            for v in o:
                walk(v)
        elif isinstance(o, dict):
            for v in o.values():
                walk(v)
        elif dataclasses.is_dataclass(o) and not isinstance(o, type):
            for f in dataclasses.fields(o):
                walk(getattr(o, f.name, None))

    walk(obj)
    return out


def rebuild(obj: Any, fn: Callable[[Any], Any]) -> Any:
    """``obj`` with every tensor replaced by ``fn(tensor)``, in :func:`flatten` order."""
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
        return type(obj)(*(rebuild(v, fn) for v in obj))
    if isinstance(obj, (tuple, list)):
        return type(obj)(rebuild(v, fn) for v in obj) if type(obj) in (tuple, list) else [rebuild(v, fn) for v in obj]
    if isinstance(obj, dict):
        return {k: rebuild(v, fn) for k, v in obj.items()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: rebuild(getattr(obj, f.name, None), fn) for f in dataclasses.fields(obj)}
    return obj


def output_order(obj: Any) -> list[Any]:
    """Model outputs as the OUTPUT node sees them: ``last_hidden_state`` first, then the rest."""
    if isinstance(obj, dict) and "last_hidden_state" in obj:
        rest = {k: v for k, v in obj.items() if k != "last_hidden_state"}
        return flatten(obj["last_hidden_state"]) + flatten(rest)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type) and hasattr(obj, "last_hidden_state"):
        items = {f.name: getattr(obj, f.name, None) for f in dataclasses.fields(obj)}
        return output_order(items)
    return flatten(obj)


def is_float(x: Any) -> bool:
    """Whether a tensor or reference holds floating values (unknown counts as floating)."""
    if isinstance(x, torch.Tensor):
        return x.is_floating_point() or x.is_complex()
    if isinstance(x, Value):
        return x.meta is None or x.meta.is_float
    t = getattr(x, "tensor", None)
    return t is None or t.is_floating_point()


def select_outputs(leaves: list[Any], is_float: Callable[[Any], bool]) -> list[Any]:
    """The floating outputs (all of them if none is floating)."""
    floats = [v for v in leaves if is_float(v)]
    return floats or leaves
