"""The torch.export tracer: ``torch.export.export(..., strict=False)`` and a lowering of its aten graph.

The training IR keeps high-level aten ops (``aten.linear``, ``aten.layer_norm``,
``aten.scaled_dot_product_attention``, ...). Consecutive ops whose ``nn_module_stack`` lies inside the
same call of an atomic module collapse into that module's node (so ``nn.Linear`` is one LINEAR node
with the Linear's path and type, BatchNorm's ``num_batches_tracked`` bookkeeping disappears with it);
the rest lower op by op. Parameter placeholders map to qualified names through the graph signature.

The model is wrapped so that its outputs are the floating tensors (HF ``ModelOutput`` and caches are
not pytrees export can return); the wrapper's ``m.`` prefix is stripped from every name.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import operator
import warnings
from typing import Any, Iterator

import torch
import torch.fx
from torch import nn
from torch.export.graph_signature import InputKind

from modelcheck.frames import from_stack_trace, lazy_stack_traces
from modelcheck.layers import is_atomic
from modelcheck.trace.functions import canonical, from_aten
from modelcheck.trace.lower import Builder
from modelcheck.trace.values import (
    ConstRef,
    ParamRef,
    Value,
    flatten,
    is_float,
    output_order,
    rebuild,
    select_outputs,
    tensor_meta,
)

_PREFIX = "m"
# Ops that return their input object itself when they change nothing (x.to(x.dtype), x.contiguous()).
_SELF_RETURNING = frozenset({"to", "contiguous", "float", "double", "half", "bfloat16", "type", "type_as",
                             "alias", "cpu", "cuda"})


# aten ops a Python subscript (x[:, 0], x[idx]) turns into.
_INDEXING = frozenset({"slice", "select", "index"})


def _subscript(node: torch.fx.Node) -> bool:
    """Whether the source line that produced ``node`` indexes with ``[...]``."""
    text = (node.meta.get("stack_trace") or "").rstrip().rpartition("\n")[2]
    return "[" in text


class _Root(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.m = model

    def forward(self, *args: Any) -> tuple[torch.Tensor, ...]:
        out = output_order(self.m(*args))
        return tuple(select_outputs([t for t in out if isinstance(t, torch.Tensor)], is_float))


def _strip(path: str) -> str | None:
    """Model-relative path, or None for the wrapper itself."""
    if path == _PREFIX:
        return ""
    if path.startswith(_PREFIX + "."):
        return path[len(_PREFIX) + 1:]
    return None


def _input_names(model: nn.Module, n: int) -> list[str]:
    try:
        names = [p.name for p in inspect.signature(model.forward).parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        names = []
    return [names[i] if i < len(names) else f"input_{i}" for i in range(n)]


def trace(model: nn.Module, inputs: tuple[Any, ...], builder: Builder) -> None:
    with _quiet(), lazy_stack_traces():
        ep = torch.export.export(_Root(model), tuple(inputs), strict=False)
    _Lowering(model, builder, ep, inputs).run()


_NOISY = ("torch.fx.experimental.symbolic_shapes", "torch.export", "torch._export", "torch._dynamo",
          "torch._functorch", "torch.fx.experimental.proxy_tensor", "torch._subclasses")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Export's own warnings (guards, graph dumps, attribute assignments) are not the user's business."""
    loggers = [logging.getLogger(n) for n in _NOISY]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.CRITICAL + 1)  # fake-tensor failures log at ERROR on the way
        # On failure export prints the partial graph straight to stderr.
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


class _Lowering:
    def __init__(self, model: nn.Module, builder: Builder, ep: Any, inputs: tuple[Any, ...]) -> None:
        self.model, self.b, self.ep, self.inputs = model, builder, ep, inputs
        self.modules = {p: m for p, m in model.named_modules(remove_duplicate=False)}
        self.tensors = dict(model.named_parameters(remove_duplicate=False))
        self.tensors.update(model.named_buffers(remove_duplicate=False))
        self.env: dict[torch.fx.Node, Any] = {}
        self._getitems: set[torch.fx.Node] = set()
        self._atomic: dict[str, bool] = {}

    def run(self) -> None:
        self._placeholders()
        nodes = [n for n in self.ep.graph.nodes if n.op in ("call_function", "output")]
        i = 0
        while i < len(nodes):
            node = nodes[i]
            if node.op == "output":
                outs = flatten(torch.fx.node.map_arg(node.args[0], self.env.get))
                self.b.output(outs)
                i += 1
                continue
            leaf = self._leaf(node)
            if leaf is None:
                self._function(node)
                i += 1
                continue
            j = i + 1
            while j < len(nodes) and nodes[j].op == "call_function" and self._leaf(nodes[j]) == leaf:
                j += 1
            self._module(leaf, nodes[i:j])
            i = j

    def _placeholders(self) -> None:
        specs = {s.arg.name: s for s in self.ep.graph_signature.input_specs if hasattr(s.arg, "name")}
        tensor_inputs = [x for x in self.inputs if isinstance(x, torch.Tensor)]
        names = _input_names(self.model, len(self.inputs))
        tensor_names = [n for n, x in zip(names, self.inputs) if isinstance(x, torch.Tensor)]
        k = 0
        for node in self.ep.graph.nodes:
            if node.op != "placeholder":
                continue
            spec = specs.get(node.name)
            kind = spec.kind if spec is not None else InputKind.USER_INPUT
            if kind in (InputKind.PARAMETER, InputKind.BUFFER):
                name = _strip(str(spec.target))
                t = self.tensors.get(name) if name is not None else None
                self.env[node] = self.b.param_ref(t) if t is not None else ConstRef(None)
            elif kind == InputKind.CONSTANT_TENSOR:
                self.env[node] = ConstRef(self.ep.constants.get(spec.target))
            elif kind == InputKind.USER_INPUT and k < len(tensor_inputs):
                self.env[node] = self.b.input(tensor_names[k], tensor_inputs[k])
                k += 1
            else:
                self.env[node] = None

    def _leaf(self, node: torch.fx.Node) -> tuple[str, str] | None:
        """(stack key, path) of the outermost atomic module this op runs inside, if any."""
        stack = node.meta.get("nn_module_stack")
        if not stack:
            return None
        for key, entry in stack.items():
            path = _strip(str(entry[0]))
            if not path:
                continue
            atomic = self._atomic.get(path)
            if atomic is None:
                m = self.modules.get(path)
                atomic = self._atomic[path] = m is not None and is_atomic(m)
            if atomic:
                return key, path
        return None

    @staticmethod
    def _owner(node: torch.fx.Node) -> str:
        stack = node.meta.get("nn_module_stack")
        if not stack:
            return ""
        return _strip(str(next(reversed(stack.values()))[0])) or ""

    def _function(self, node: torch.fx.Node) -> None:
        if node.target is operator.getitem:
            src = self.env.get(node.args[0])  # type: ignore[arg-type]
            if isinstance(src, (list, tuple)):
                self.env[node] = src[node.args[1]]  # type: ignore[index]
                return
        name = canonical(node.target)
        out = node.meta.get("val")
        if name in _INDEXING and _subscript(node):
            name = "getitem"
            if self._extend_getitem(node, out):
                return
        args = from_aten(name, torch.fx.node.map_arg(node.args, self.env.get), node.target)
        kwargs = torch.fx.node.map_arg(node.kwargs, self.env.get)
        if name.startswith("upsample_"):  # aten.upsample_bilinear2d.vec & co. -> F.interpolate's layout
            scales = kwargs.get("scale_factors", args[-1] if len(args) > 2 else None)
            mode = name.removeprefix("upsample_").rstrip("123d")
            name, args, kwargs = "interpolate", (args[0], args[1] if len(args) > 1 else None, scales, mode), {}
        values = self.b.function_call(name, args, kwargs, out, path=self._owner(node),
                                      source=from_stack_trace(node.meta.get("stack_trace")))
        if values:
            it = iter(values)
            self.env[node] = rebuild(out, lambda t: next(it))
        else:
            self.env[node] = out
        if name == "getitem":
            self._getitems.add(node)

    def _extend_getitem(self, node: torch.fx.Node, out: Any) -> bool:
        """``x[:, 0, :4]`` is one getitem in fx and hooks but a slice/select chain in aten: fold the
        chain into the node of its first link when that link feeds only this one, from the same line."""
        prev = node.args[0]
        if prev not in self._getitems or len(prev.users) != 1:  # type: ignore[arg-type]
            return False
        if prev.meta.get("stack_trace") != node.meta.get("stack_trace"):  # type: ignore[union-attr]
            return False
        value = self.env[prev]  # type: ignore[index]
        if not isinstance(value, Value) or value.index is not None:
            return False
        value.node.meta = tensor_meta(out)
        self.env[node] = Value(value.node, None, value.node.meta)
        self._getitems.add(node)
        return True

    def _alias_source(self, n: torch.fx.Node, inside: set[torch.fx.Node], aliases: dict[torch.fx.Node, Any]) -> Any:
        """The outside Value that a no-op cast/alias inside a module hands back unchanged, if any."""
        if not n.args or not isinstance(n.args[0], torch.fx.Node) or canonical(n.target) not in _SELF_RETURNING:
            return None
        a = n.args[0]
        src = aliases.get(a) if a in inside else self.env.get(a)
        if not isinstance(src, Value) or src.meta is None:
            return None
        val = n.meta.get("val")
        same = isinstance(val, torch.Tensor) and tuple(val.shape) == src.meta.shape \
            and str(val.dtype).removeprefix("torch.") == src.meta.dtype
        return src if same else None

    def _module(self, leaf: tuple[str, str], members: list[torch.fx.Node]) -> None:
        path = leaf[1]
        mod = self.modules[path]
        inside = set(members)
        operands: list[Any] = []
        seen: set[int] = set()
        depends: set[torch.fx.Node] = set()
        own = {id(t) for _, t in mod.named_parameters()} | {id(t) for _, t in mod.named_buffers()}
        aliases: dict[torch.fx.Node, Any] = {}
        for n in members:
            src = self._alias_source(n, inside, aliases)
            if src is not None:
                # x.to(x.dtype) returns x itself; export then rebinds x to this node, so code after
                # the module (the residual in `x + norm(x)`) would seem to read the module's inside.
                aliases[n] = src
                self.env[n] = src
            for a in n.all_input_nodes:
                if a in inside:
                    if a in depends:
                        depends.add(n)
                    continue
                for x in flatten([self.env.get(a)]):
                    outside = isinstance(x, Value) or (isinstance(x, ParamRef) and id(x.tensor) not in own)
                    if outside:
                        depends.add(n)
                        if id(x) not in seen:
                            seen.add(id(x))
                            operands.append(x)
        outs = [n for n in members if n not in aliases and isinstance(n.meta.get("val"), torch.Tensor)
                and (any(u not in inside for u in n.users) or (not n.users and n in depends))]
        if isinstance(mod, nn.MultiheadAttention):
            operands, outs = _mha_layout(mod, operands, outs)
        out_vals = [n.meta["val"] for n in outs]
        values = self.b.module_call(mod, path, operands, None, tuple(out_vals) if len(out_vals) != 1 else out_vals[0],
                                    source=from_stack_trace(members[0].meta.get("stack_trace")))
        for n, v in zip(outs, values):
            self.env[n] = v


def _mha_layout(mod: nn.MultiheadAttention, operands: list[Any],
                outs: list[torch.fx.Node]) -> tuple[list[Any], list[torch.fx.Node]]:
    """Operands as (query, key, value, masks...) and the attention output first, as fx and hooks see them.

    The aten graph uses a tensor once however often it was passed (self-attention passes x three
    times); queries/keys/values are the floating operands whose last dim is an embedding size.
    """
    dims = {mod.embed_dim, mod.kdim, mod.vdim}

    def is_seq(x: Any) -> bool:
        return isinstance(x, Value) and x.meta is not None and x.meta.is_float and bool(x.meta.shape) \
            and x.meta.shape[-1] in dims

    qkv = [x for x in operands if is_seq(x)]
    masks = [x for x in operands if not is_seq(x)]
    if len(qkv) == 1:
        qkv = qkv * 3
    elif len(qkv) == 2:
        qkv = [qkv[0], qkv[1], qkv[1]]
    primary = [n for n in outs if tuple(n.meta["val"].shape)[-1:] == (mod.embed_dim,)]
    rest = [n for n in outs if n not in primary]
    return qkv + masks, primary[-1:] + primary[:-1] + rest
