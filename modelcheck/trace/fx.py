"""The torch.fx tracer: symbolic tracing with the atomic layers as leaves, then one interpretation
of the fx graph on the example inputs (real or meta tensors) for shapes and tuple structure.

Without example inputs the graph is lowered symbolically: no shapes, and tuple outputs are guessed
from the op kind (splits and recurrent/attention modules are multi-output).
"""

from __future__ import annotations

import builtins
import contextlib
import inspect
import operator
import sys
from typing import Any, Callable

import torch
import torch.fx
from torch import nn

from modelcheck import capture
from modelcheck.frames import from_frame
from modelcheck.ir import Op
from modelcheck.layers import is_atomic
from modelcheck.trace.functions import canonical, from_aten
from modelcheck.trace.lower import UNKNOWN, Builder
from modelcheck.trace.values import (
    ConstRef,
    Value,
    flatten,
    is_float,
    output_order,
    rebuild,
    select_outputs,
)

# Calls that never produce tensors (skipped when there are no example inputs to tell).
_NON_TENSOR = frozenset({"size", "dim", "numel", "shape", "dtype", "device", "ndim", "ndimension", "len",
                         "item", "tolist", "stride", "element_size", "is_floating_point", "is_contiguous",
                         "_assert_is_none", "_assert", "requires_grad", "is_cuda", "get_device"})
_MULTI = (Op.SPLIT, Op.RECURRENT)
_SOURCE = "modelcheck_source"


class _Tracer(torch.fx.Tracer):
    """Atomic layers are leaves; each node remembers its user line.

    fx's own ``record_stack_traces`` formats the whole stack per node (about 1 ms each); walking
    the live frames to the first user file is enough and far cheaper.
    """

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return is_atomic(m)

    def create_node(self, *args: Any, **kwargs: Any) -> torch.fx.Node:
        node = super().create_node(*args, **kwargs)
        node.meta[_SOURCE] = from_frame(sys._getframe(1))
        return node


def _signature(model: nn.Module) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        return []


def _fetch(model: nn.Module, target: str) -> Any:
    obj: Any = model
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _owner(node: torch.fx.Node) -> str:
    stack = node.meta.get("nn_module_stack")
    if not stack:
        return ""
    path = next(reversed(stack.values()))[0]
    return path if isinstance(path, str) else ""


def trace(model: nn.Module, inputs: tuple[Any, ...] | None, builder: Builder,
          measure: capture.Measurement | None = None) -> None:
    """Trace, then lower on the inputs; the lowering runs every leaf on real tensors (when they are
    real), which is a forward: ``measure`` takes its statistics from it (:func:`capture.riding`)."""
    params = _signature(model)
    concrete: dict[str, Any] = {}
    given: dict[str, Any] = {}
    for i, p in enumerate(params):
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            stars = "*" if p.kind == p.VAR_POSITIONAL else "**"
            raise TypeError(f"forward takes {stars}{p.name}; torch.fx needs named arguments")
        if inputs is not None and i < len(inputs):
            given[p.name] = inputs[i]
            if not isinstance(inputs[i], torch.Tensor):
                concrete[p.name] = inputs[i]
        elif p.default is not p.empty:
            concrete[p.name] = p.default
    before = set(vars(model))
    try:
        graph = _Tracer().trace(model, concrete_args=concrete or None)
        lowering = _Lowering(model, builder, given, concrete, run=inputs is not None)
        # hooks only around the lowering: the symbolic trace above calls no module on tensors
        real = inputs is not None and not any(isinstance(t, torch.Tensor) and t.is_meta for t in inputs)
        riding = capture.riding(model, inputs or (), measure) if measure is not None and real \
            else contextlib.nullcontext(None)
        with riding as finish:
            lowering.on_output = finish
            lowering.run(graph)
    finally:
        # fx stores tensors computed while tracing as ``_tensor_constantN`` attributes on the model.
        for name in set(vars(model)) - before:
            if name.startswith("_tensor_constant"):
                delattr(model, name)


class _Lowering:
    def __init__(self, model: nn.Module, builder: Builder, given: dict[str, Any], concrete: dict[str, Any],
                 run: bool) -> None:
        self.model, self.b, self.given, self.concrete, self.live = model, builder, given, concrete, run
        self.val: dict[torch.fx.Node, Any] = {}
        self.sym: dict[torch.fx.Node, Any] = {}
        self.on_output: Callable[[Any], None] | None = None  # given the model's real output

    def run(self, graph: torch.fx.Graph) -> None:
        for node in graph.nodes:
            getattr(self, f"_{node.op}")(node)

    def _args(self, node: torch.fx.Node) -> tuple[Any, Any, Any, Any]:
        args = torch.fx.node.map_arg(node.args, self.val.__getitem__)
        kwargs = torch.fx.node.map_arg(node.kwargs, self.val.__getitem__)
        sargs = torch.fx.node.map_arg(node.args, self.sym.__getitem__)
        skwargs = torch.fx.node.map_arg(node.kwargs, self.sym.__getitem__)
        return args, kwargs, sargs, skwargs

    def _structure(self, out: Any, values: list[Value]) -> Any:
        if out is UNKNOWN:
            return values[0] if values else None
        it = iter(values)
        return rebuild(out, lambda t: next(it)) if values else out

    def _placeholder(self, node: torch.fx.Node) -> None:
        name = str(node.target).lstrip("*")
        if name in self.given:
            v = self.given[name]
        elif name in self.concrete:
            v = self.concrete[name]
        else:
            v = UNKNOWN if not self.live else None
        self.val[node] = v
        is_tensor = isinstance(v, torch.Tensor) or (v is UNKNOWN and name not in self.concrete)
        self.sym[node] = self.b.input(name, v if v is not UNKNOWN else None) if is_tensor else v

    def _get_attr(self, node: torch.fx.Node) -> None:
        obj = _fetch(self.model, str(node.target))
        self.val[node] = obj
        if isinstance(obj, torch.Tensor):
            self.sym[node] = self.b.param_ref(obj) or ConstRef(obj)
        else:
            self.sym[node] = obj

    def _call_module(self, node: torch.fx.Node) -> None:
        path = str(node.target)
        mod = self.model.get_submodule(path)
        args, kwargs, sargs, skwargs = self._args(node)
        out = mod(*args, **kwargs) if self.live else UNKNOWN
        values = self.b.module_call(mod, path, sargs, skwargs, out, source=node.meta.get(_SOURCE))
        self.val[node] = out
        self.sym[node] = self._structure(out, values)

    def _call_function(self, node: torch.fx.Node) -> None:
        self._call(node, node.target)

    def _call_method(self, node: torch.fx.Node) -> None:
        self._call(node, str(node.target))

    def _call(self, node: torch.fx.Node, target: Any) -> None:
        args, kwargs, sargs, skwargs = self._args(node)
        if target is operator.getitem and not isinstance(sargs[0], Value) and self._structural(sargs[0]):
            self.sym[node] = sargs[0][sargs[1]]
            self.val[node] = args[0][args[1]] if self.live else UNKNOWN
            return
        if target is operator.getitem and not self.live and isinstance(sargs[0], Value) \
                and sargs[0].node.op in _MULTI and isinstance(sargs[1], int):
            self.sym[node] = Value(sargs[0].node, sargs[1], None)
            self.val[node] = UNKNOWN
            return
        if target is builtins.getattr and self.live and not isinstance(sargs[0], Value):
            # ``x.max(dim=1).values``: an element of a structured result, not a new op.
            picked = getattr(args[0], str(args[1]))
            leaves = flatten(args[0])
            hit = next((i for i, t in enumerate(leaves) if t is picked), None)
            if hit is not None:
                self.val[node], self.sym[node] = picked, flatten(sargs[0])[hit]
                return
        if target is builtins.getattr:
            name = canonical(str(sargs[1]))
        else:
            name = canonical(target)
            sargs = from_aten(name, sargs, target)
        if self.live:
            if isinstance(target, str):
                out = getattr(args[0], target)(*args[1:], **kwargs)
            else:
                out = target(*args, **kwargs)
        else:
            out = None if name in _NON_TENSOR else UNKNOWN
        values = self.b.function_call(name, sargs, skwargs, out, path=_owner(node),
                                      source=node.meta.get(_SOURCE))
        self.val[node] = out
        self.sym[node] = self._structure(out, values)

    @staticmethod
    def _structural(obj: Any) -> bool:
        return isinstance(obj, (tuple, list, dict)) or obj is None

    def _output(self, node: torch.fx.Node) -> None:
        if self.live and self.on_output is not None:
            self.on_output(torch.fx.node.map_arg(node.args[0], self.val.__getitem__))
        sym = torch.fx.node.map_arg(node.args[0], self.sym.__getitem__)
        self.b.output(select_outputs(output_order(sym), is_float))
