"""The last-resort tracer: one eager forward pass, recorded.

Forward pre/post hooks on every module keep the current module path and record each call of an
atomic layer; a ``TorchFunctionMode`` records the tensor functions that run outside atomic layers.
Tensors are connected by identity (``id()`` of every output, kept alive until the run ends), so
anything Python computes — ``.item()``-driven branches, loops over ``.tolist()`` — is simply the
path that ran. Tensors that enter from outside torch (a numpy round-trip) start a new constant.
"""

from __future__ import annotations

import sys
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from modelcheck.frames import from_frame, short
from modelcheck.ir import SourceLoc
from modelcheck.layers import is_atomic
from modelcheck.trace.functions import canonical, from_aten
from modelcheck.trace.lower import Builder
from modelcheck.trace.values import (
    ConstRef,
    Value,
    flatten,
    is_float,
    output_order,
    rebuild,
    select_outputs,
)

# Calls through which tensor values become Python values (canonical names).
_ESCAPES = frozenset({"item", "tolist", "numpy", "array", "index", "int", "float", "bool"})


class _Recorder(TorchFunctionMode):
    def __init__(self, model: nn.Module, builder: Builder) -> None:
        super().__init__()
        self.model, self.b = model, builder
        self.values: dict[int, Any] = {}
        self.keep: list[Any] = []  # outputs stay alive so their ids are never reused mid-run
        self.stack: list[str] = [""]
        self.depth = 0  # > 0 inside an atomic layer: its internals are not recorded
        self.pending: list[tuple[Any, Any, SourceLoc | None]] = []
        self.escapes: list[str] = []

    # --- identity bookkeeping -------------------------------------------------------------------

    def ref(self, t: torch.Tensor) -> Any:
        v = self.values.get(id(t))
        if v is not None:
            return v
        return self.b.param_ref(t) or ConstRef(t)

    def sym(self, obj: Any) -> Any:
        return rebuild(obj, self.ref) if any(isinstance(x, torch.Tensor) for x in flatten(obj)) else obj

    def bind(self, out: Any, values: list[Value]) -> None:
        tensors = [t for t in flatten(out) if isinstance(t, torch.Tensor)]
        for t, v in zip(tensors, values):
            self.values[id(t)] = v
            self.keep.append(t)

    # --- functions ---------------------------------------------------------------------------------

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.depth:
            return out
        name = canonical(func)
        if name in _ESCAPES and not any(isinstance(t, torch.Tensor) for t in flatten(out)):
            if args and isinstance(args[0], torch.Tensor) and id(args[0]) in self.values:
                self.escapes.append(f"{short(from_frame(sys._getframe(1)))} ({name})")
            return out
        result = args[0] if name == "setitem" else out  # x[i] = y mutates x in place
        sargs = from_aten(name, self.sym(args), func)
        values = self.b.function_call(name, sargs, self.sym(kwargs), result, path=self.stack[-1],
                                      source=from_frame(sys._getframe(1)))
        self.bind(result, values)
        return out

    # --- modules -----------------------------------------------------------------------------------

    def attach(self) -> list[Any]:
        handles: list[Any] = []
        opaque: list[str] = []
        for path, mod in self.model.named_modules():
            atomic = bool(path) and is_atomic(mod)
            try:
                pre = mod.register_forward_pre_hook(self._pre(path, atomic), with_kwargs=True)
            except RuntimeError:  # TorchScript modules refuse hooks
                if not any(path.startswith(p + ".") for p in opaque):
                    self.b.notes.append(f"forward hooks: {path or 'the model'} ({type(mod).__name__}) cannot be "
                                        "hooked; its outputs enter the graph as constants")
                opaque.append(path)
                continue
            handles.append(pre)
            handles.append(mod.register_forward_hook(self._post(path, atomic), with_kwargs=True))
        return handles

    def _pre(self, path: str, atomic: bool) -> Any:
        def hook(mod: nn.Module, args: Any, kwargs: Any) -> None:
            self.stack.append(path)
            if atomic:
                if not self.depth:
                    self.pending.append((self.sym(args), self.sym(kwargs), from_frame(sys._getframe(1))))
                self.depth += 1

        return hook

    def _post(self, path: str, atomic: bool) -> Any:
        def hook(mod: nn.Module, args: Any, kwargs: Any, out: Any) -> None:
            self.stack.pop()
            if atomic:
                if self.depth == 1:  # still "inside": what the builder computes is not recorded
                    sargs, skwargs, source = self.pending.pop()
                    self.bind(out, self.b.module_call(mod, path, sargs, skwargs, out, source=source))
                self.depth -= 1

        return hook


def trace(model: nn.Module, inputs: tuple[Any, ...], builder: Builder) -> None:
    rec = _Recorder(model, builder)
    names = _names(model, len(inputs))
    for name, x in zip(names, inputs):
        if isinstance(x, torch.Tensor):
            rec.bind(x, [builder.input(name, x)])
    handles = rec.attach()
    try:
        with torch.no_grad(), rec:
            out = model(*inputs)
    finally:
        for h in handles:
            h.remove()
    leaves = [rec.ref(t) for t in output_order(out) if isinstance(t, torch.Tensor)]
    builder.output(select_outputs(leaves, is_float))
    if rec.escapes:
        builder.notes.append("forward hooks: tensor values become Python values at "
                             + ", ".join(list(dict.fromkeys(rec.escapes))[:3])
                             + "; the graph follows the path taken for the example inputs")


def _names(model: nn.Module, n: int) -> list[str]:
    from modelcheck.trace.export import _input_names

    return _input_names(model, n)
