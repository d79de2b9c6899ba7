"""The builder every tracer drives: calls in execution order in, one :class:`~modelcheck.ir.Graph` out.

A tracer reports model inputs, atomic module calls and tensor function calls (arguments with tensors
replaced by ``Value`` / ``ParamRef`` / ``ConstRef``, plus the real, fake or meta output); the builder
picks the op kind, creates the node and hands back ``Value`` s for the outputs. Shared conventions
therefore live here once:

* parameters in weight slots become ``node.params``; used as tensors they become one PARAM node each;
* an element of a multi-output node (``chunk``, an LSTM) becomes a SPLIT ``getitem`` node on first use;
* functions of constants only fold into one CONST node; constants nobody uses are dropped;
* leaf-module nodes point at the module's construction line, functional nodes at their user line.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn
from torch.nn.utils import parametrize

from modelcheck.ir import Graph, ModuleInfo, Node, Op, SourceLoc
from modelcheck.layers import module_params, module_spec
from modelcheck.trace.functions import lower_function
from modelcheck.trace.values import (
    ConstRef,
    ParamRef,
    Value,
    flatten,
    is_item,
    scalar_value,
    tensor_meta,
)

UNKNOWN = object()  # an output the tracer could not evaluate (symbolic fx without example inputs)


def canonical_names(model: nn.Module) -> dict[int, str]:
    """``id(tensor) -> name`` for parameters and buffers; tied tensors get their first name."""
    names: dict[int, str] = {}
    for n, p in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(p), n)
    for n, b in model.named_buffers(remove_duplicate=False):
        names.setdefault(id(b), n)
    return names


class Builder:
    def __init__(self, model: nn.Module, *, tracer: str, sites: Mapping[int, SourceLoc] | None = None,
                 training: Mapping[int, bool] | None = None) -> None:
        self.model = model
        self.tracer = tracer
        self.sites = sites or {}
        self.training = training or {}
        self.nodes: list[Node] = []
        self.notes: list[str] = []
        self.names = canonical_names(model)
        self._count: dict[str, int] = {}
        self._used: set[str] = set()
        self._splits: dict[tuple[int, int], Node] = {}
        self._params: dict[str, Node] = {}
        self._consts: dict[int, Node] = {}
        self._module_params: dict[int, dict[str, str]] = {}
        self.extra_buffers: dict[str, torch.Tensor] = {}  # computed weights of parametrized layers

    # --- nodes --------------------------------------------------------------------------------------

    def _name(self, base: str) -> str:
        """fx-style unique names: ``add``, ``add_1``, ...; module paths with dots become underscores."""
        base = base.replace(".", "_") or "node"
        n = self._count.get(base, 0)
        name = base if n == 0 else f"{base}_{n}"
        while name in self._used:  # a module path that looks like a numbered name ("add_1")
            n += 1
            name = f"{base}_{n}"
        self._count[base] = n + 1
        self._used.add(name)
        return name

    def add(self, op: Op, target: str, inputs: tuple[Node, ...] = (), *, base: str | None = None,
            **fields: Any) -> Node:
        node = Node(self._name(base or target), op, target, inputs, **fields)
        self.nodes.append(node)
        return node

    def param_ref(self, t: Any) -> ParamRef | None:
        name = self.names.get(id(t))
        return ParamRef(name, t) if name is not None else None

    def node_of(self, item: Any) -> Node:
        """The node standing for a tensor operand, created on first use for params/constants/splits."""
        if isinstance(item, Value):
            if item.index is None:
                return item.node
            key = (id(item.node), item.index)
            node = self._splits.get(key)
            if node is None:
                node = self.add(Op.SPLIT, "getitem", (item.node,), meta=item.meta, attrs={"index": item.index},
                                module_path=item.node.module_path, source=item.node.source)
                self._splits[key] = node
            return node
        if isinstance(item, ParamRef):
            node = self._params.get(item.name)
            if node is None:
                node = self.add(Op.PARAM, item.name, (), meta=tensor_meta(item.tensor), params={"value": item.name},
                                module_path=item.name.rpartition(".")[0])
                self._params[item.name] = node
            return node
        if isinstance(item, ConstRef):
            node = self._consts.get(id(item.tensor)) if item.tensor is not None else None
            if node is None:
                value = scalar_value(item.tensor)
                node = self.add(Op.CONST, "constant", (), meta=tensor_meta(item.tensor),
                                attrs={"note": "tensor constant"} | ({"value": value} if value is not None else {}))
                if item.tensor is not None:
                    self._consts[id(item.tensor)] = node
            return node
        raise TypeError(f"not a tensor reference: {item!r}")

    def _values(self, node: Node, out: Any) -> list[Value]:
        flat = [None] if out is UNKNOWN else [t for t in flatten(out) if isinstance(t, torch.Tensor)]
        metas = [tensor_meta(t) for t in flat]
        node.meta = metas[0]
        if len(flat) == 1:
            return [Value(node, None, metas[0])]
        return [Value(node, i, m) for i, m in enumerate(metas)]

    def _rename(self, nodes: list[Node]) -> None:
        """Name the graph's nodes afresh, in order, as :meth:`add` names them: a name counts only
        the nodes that stay (constants folded away or never used leave no gaps), so a model whose
        stem builds something per layer that nothing reads has the same names however it is traced
        (``trace/repeat.py`` replays blocks)."""
        self._count, self._used = {}, set()
        for node in nodes:
            node.name = self._name((node.module_path or node.target.lower()) if node.module_type else node.target)

    # --- what tracers report ------------------------------------------------------------------------

    def input(self, name: str, t: Any) -> Value:
        node = self.add(Op.INPUT, name, (), base=name, meta=tensor_meta(t))
        return Value(node, None, node.meta)

    def module_call(self, module: nn.Module, path: str, args: Any, kwargs: Mapping[str, Any] | None, out: Any,
                    *, source: SourceLoc | None = None) -> list[Value]:
        if out is not UNKNOWN and not any(isinstance(t, torch.Tensor) for t in flatten(out)):
            return []
        op, attrs = module_spec(module, dict(kwargs or {}))
        if op is Op.NORM and attrs.get("kind") in ("batch", "instance"):
            attrs["training"] = bool(self.training.get(id(module), module.training))
        inputs = tuple(self.node_of(i) for i in flatten([args, dict(kwargs or {})]) if is_item(i))
        node = self.add(op, type(module).__name__, inputs, base=path or type(module).__name__.lower(),
                        module_path=path, module_type=type(module).__name__,
                        source=self.site(module, source), params=self.params_of(module, path),
                        attrs=attrs)
        return self._values(node, out)

    def site(self, module: nn.Module, call: SourceLoc | None) -> SourceLoc | None:
        """The construction line; without one, the call line only when no sites were recorded at
        all (otherwise ``Graph.source_of`` finds the nearest constructed parent, e.g. for layers that
        ``nn.TransformerEncoder`` deep-copies)."""
        site = self.sites.get(id(module))
        return site if site is not None or self.sites else call

    def params_of(self, module: nn.Module, path: str) -> dict[str, str]:
        cached = self._module_params.get(id(module))
        if cached is None:
            prefix = f"{path}." if path else ""
            cached = {role: self.names.get(id(t), prefix + role) for role, t in module_params(module)}
            cached.update(self._parametrized(module, prefix))
            self._module_params[id(module)] = cached
        return dict(cached)

    def _parametrized(self, module: nn.Module, prefix: str) -> dict[str, str]:
        """``weight_norm`` / ``spectral_norm`` / ``orthogonal``: the weight the layer uses is computed
        from ``parametrizations.weight.original*``; it is published as a buffer under the layer's
        own name (``a.weight``) so the weight role reads what the forward multiplies by."""
        roles: dict[str, str] = {}
        if not parametrize.is_parametrized(module):
            return roles
        for name in module.parametrizations:  # type: ignore[union-attr]
            try:
                with torch.no_grad():
                    value = getattr(module, name).detach()
            except Exception:  # a parametrization that cannot run here (e.g. on meta)
                continue
            self.extra_buffers[prefix + name] = value
            roles[name] = prefix + name
        return roles

    def function_call(self, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any], out: Any, *,
                      path: str = "", source: SourceLoc | None = None) -> list[Value]:
        flat = None if out is UNKNOWN else [t for t in flatten(out) if isinstance(t, torch.Tensor)]
        if flat is not None and not flat:
            return []  # sizes, dtypes, asserts: not part of the dataflow
        spec = lower_function(name, tuple(args), dict(kwargs))
        inputs = tuple(self.node_of(i) for i in spec.inputs)
        op, attrs = spec.op, spec.attrs
        if not spec.params and all(_constant(n) for n in inputs) and op is not Op.CONST:
            op, inputs, attrs = Op.CONST, (), {"note": name}  # masks, position ids, tables
        if op is Op.CONST:
            inputs = ()
            value = scalar_value(flat[0]) if flat else None
            if value is not None:
                attrs = {**attrs, "value": value}
        node = self.add(op, name, inputs, module_path=path, source=source,
                        params={role: p.name for role, p in spec.params.items()}, attrs=attrs)
        return self._values(node, out)

    def output(self, items: list[Any]) -> None:
        inputs = tuple(self.node_of(i) for i in items if is_item(i))
        self.add(Op.OUTPUT, "output", inputs, meta=inputs[0].meta if inputs else None)

    # --- the graph ----------------------------------------------------------------------------------

    def graph(self, notes: list[str] | None = None, training: bool = True) -> Graph:
        used: set[int] = set()
        kept: list[Node] = []
        for node in reversed(self.nodes):
            if node.op in (Op.CONST, Op.PARAM) and id(node) not in used:
                continue  # a constant folded into a later one, or never used
            kept.append(node)
            used.update(id(i) for i in node.inputs)
        kept.reverse()
        self._rename(kept)
        modules = {
            path: ModuleInfo(path, type(m).__name__, self.sites.get(id(m)),
                             sum(int(p.numel()) for p in m.parameters(recurse=False)))
            for path, m in self.model.named_modules()
        }
        buffers = dict(self.model.named_buffers())
        buffers.update((k, v) for k, v in self.extra_buffers.items() if k not in buffers)
        return Graph(kept, tracer=self.tracer, parameters=dict(self.model.named_parameters()),
                     buffers=buffers, modules=modules,
                     notes=list(notes or []) + self.notes, training=training)


def _constant(node: Node) -> bool:
    """Constants, and integer/bool buffers (masks, position ids): what folds into a CONST."""
    return node.op is Op.CONST or (node.op is Op.PARAM and node.meta is not None and not node.meta.is_float)
