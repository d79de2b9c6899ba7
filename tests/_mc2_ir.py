"""Hand-built IR for the init-rule tests (MC201-MC204), independent of the tracers: a small builder
with real parameter tensors, plus helpers that run the structure and signal passes on the result."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from modelcheck.ir import Graph, ModuleInfo, Node, Op, TensorMeta
from modelcheck.passes import PassContext
from modelcheck.rule import RuleContext, Violation

Init = str | float | torch.Tensor | None

_INITS: dict[str, Callable[[torch.Tensor], object]] = {
    "kaiming": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
    "xavier": nn.init.xavier_normal_,
    "normal": lambda w: nn.init.normal_(w, 0.0, 1.0),
    "lecun": lambda w: nn.init.kaiming_normal_(w, nonlinearity="linear"),
    "tanh": lambda w: nn.init.xavier_normal_(w, gain=5 / 3),
    "zeros": nn.init.zeros_,
    "ones": nn.init.ones_,
}


def _fill(t: torch.Tensor, init: Init) -> torch.Tensor:
    """A parameter tensor: 'default' keeps the module's own init, a float means constant."""
    t = t.detach().clone()
    if isinstance(init, torch.Tensor):
        return init.detach().clone()
    if isinstance(init, (int, float)):
        return torch.full_like(t, float(init))
    if init not in (None, "default"):
        _INITS[init](t)
    return t


class B:
    """``b = B(); h = b.linear(b.input(64), 64, 64, "fc1"); g = b.graph(h)``."""

    def __init__(self, batch: int = 8, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.nodes: list[Node] = []
        self.params: dict[str, torch.Tensor] = {}
        self.modules: dict[str, ModuleInfo] = {"": ModuleInfo("", "Model", None, 0)}
        self.batch = batch

    def _add(self, op: Op, target: str, inputs: tuple[Node, ...], shape: tuple[int, ...] | None = None,
             path: str = "", mtype: str = "", dtype: str = "float32", **attrs: Any) -> Node:
        if shape is None:
            shape = inputs[0].meta.shape if inputs and inputs[0].meta is not None else (self.batch,)
        n = Node(f"n{len(self.nodes)}", op, target, inputs, module_path=path, module_type=mtype,
                 meta=TensorMeta(tuple(shape), dtype), attrs=dict(attrs))
        self.nodes.append(n)
        return n

    def _params(self, node: Node, path: str, mod: nn.Module, weight: Init, bias: Init) -> Node:
        self.modules[path] = ModuleInfo(path, type(mod).__name__, None, sum(p.numel() for p in mod.parameters()))
        node.params = {"weight": self._param(f"{path}.weight", _fill(mod.weight, weight))}
        if getattr(mod, "bias", None) is not None and bias is not None:
            node.params["bias"] = self._param(f"{path}.bias", _fill(mod.bias, bias))
        return node

    def _param(self, name: str, t: torch.Tensor) -> str:
        self.params[name] = t if isinstance(t, nn.Parameter) else nn.Parameter(t)
        return name

    def input(self, *shape: int) -> Node:
        return self._add(Op.INPUT, "x", (), (self.batch,) + shape)

    def ids(self, t: int) -> Node:
        return self._add(Op.INPUT, "ids", (), (self.batch, t), dtype="int64")

    def linear(self, x: Node, d_in: int, d_out: int, path: str, weight: Init = "default",
               bias: Init = "default") -> Node:
        n = self._add(Op.LINEAR, "Linear", (x,), x.meta.shape[:-1] + (d_out,), path, "Linear",
                      in_features=d_in, out_features=d_out)
        return self._params(n, path, nn.Linear(d_in, d_out), weight, bias)

    def conv(self, x: Node, c_in: int, c_out: int, path: str, k: int = 3, stride: int = 1, groups: int = 1,
             transposed: bool = False, weight: Init = "default", bias: Init = "default") -> Node:
        h, w = x.meta.shape[2:]
        if transposed:
            mod: nn.Module = nn.ConvTranspose2d(c_in, c_out, k, stride=stride, groups=groups)
            oh, ow = (h - 1) * stride + k, (w - 1) * stride + k
        else:
            mod = nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, groups=groups)
            oh, ow = (h + 2 * (k // 2) - k) // stride + 1, (w + 2 * (k // 2) - k) // stride + 1
        n = self._add(Op.CONV, type(mod).__name__, (x,), (x.meta.shape[0], c_out, oh, ow), path,
                      type(mod).__name__, stride=(stride, stride), padding=(0, 0) if transposed else (k // 2,) * 2,
                      dilation=(1, 1), groups=groups, transposed=transposed)
        return self._params(n, path, mod, weight, bias)

    def act(self, x: Node, fn: str, **attrs: Any) -> Node:
        return self._add(Op.ACTIVATION, fn, (x,), fn=fn, **attrs)

    def norm(self, x: Node, path: str, kind: str = "layer", gamma: Init = "default") -> Node:
        d = x.meta.shape[-1] if kind != "batch" else x.meta.shape[1]
        mod = nn.LayerNorm(d) if kind != "batch" else nn.BatchNorm1d(d)
        n = self._add(Op.NORM, type(mod).__name__, (x,), path=path, mtype=type(mod).__name__, kind=kind,
                      eps=1e-5, affine=True, training=True)
        return self._params(n, path, mod, gamma, "default")

    def embedding(self, ids: Node, vocab: int, d: int, path: str, weight: Init = "default") -> Node:
        n = self._add(Op.EMBEDDING, "Embedding", (ids,), ids.meta.shape + (d,), path, "Embedding",
                      num_embeddings=vocab, padding_idx=None)
        return self._params(n, path, nn.Embedding(vocab, d), weight, None)

    def param(self, name: str, t: torch.Tensor) -> Node:
        p = self._add(Op.PARAM, name, (), tuple(t.shape))
        p.params = {"value": self._param(name, t)}
        return p

    def add(self, a: Node, b: Node) -> Node:
        return self._add(Op.ADD, "add", (a, b))

    def mul(self, a: Node, b: Node) -> Node:
        return self._add(Op.MUL, "mul", (a, b), a.meta.shape)

    def scale(self, x: Node, c: float) -> Node:
        return self._add(Op.MUL, "mul", (x,), scalar=c)

    def reshape(self, x: Node, *shape: int) -> Node:
        return self._add(Op.RESHAPE, "view", (x,), tuple(shape))

    def matmul(self, a: Node, b: Node, shape: tuple[int, ...]) -> Node:
        return self._add(Op.MATMUL, "matmul", (a, b), shape)

    def pool(self, x: Node, k: int = 2) -> Node:
        s = x.meta.shape
        return self._add(Op.POOL, "max_pool2d", (x,), s[:2] + (s[2] // k, s[3] // k), kind="max", kernel=k,
                         stride=k, padding=0)

    def graph(self, *outs: Node) -> Graph:
        self._add(Op.OUTPUT, "output", outs)
        return Graph(self.nodes, tracer="manual", parameters=self.params, modules=self.modules)


def mlp(depth: int, width: int = 128, fn: str | None = "relu", weight: Init = "default",
        bias: Init = "default", d_in: int = 64, d_out: int = 10, **act_attrs: Any) -> Graph:
    """``depth`` Linear layers, ``fn`` between them (None: no nonlinearity)."""
    b = B()
    h = b.input(d_in)
    for i in range(depth):
        last = i == depth - 1
        h = b.linear(h, d_in if i == 0 else width, d_out if last else width, f"net.{2 * i}", weight, bias)
        if not last and fn is not None:
            h = b.act(h, fn, **act_attrs)
    return b.graph(h)


def analyse(graph: Graph, inputs: tuple[torch.Tensor, ...] | None = None, *, signal: bool = True) -> Graph:
    """Run init_stats and structure, then (optionally) the signal pass, then init_gains, as the linter would."""
    from modelcheck.passes.init_gains import run as run_init_gains
    from modelcheck.passes.init_stats import run as run_init_stats
    from modelcheck.passes.signal.propagate import run as run_signal
    from modelcheck.passes.structure.summary import analyse_structure

    run_init_stats(graph, PassContext())
    analyse_structure(graph)
    if signal:
        if inputs is None:
            inputs = tuple(torch.randn(n.meta.shape) for n in graph.inputs if n.meta.is_float) or None
        run_signal(graph, PassContext(inputs=inputs))
    run_init_gains(graph, PassContext())
    return graph


def violations(rule_module: Any, graph: Graph, options: dict[str, Any] | None = None) -> list[Violation]:
    return rule_module.RULE.run(graph, RuleContext(model="m", file="m.py"), options or {})


def codes_at_least(found: dict[str, list[Violation]], rank: int) -> set[str]:
    from modelcheck.diagnostics import Severity

    out = set()
    for code, vs in found.items():
        for v in vs:
            sev = v.severity or Severity.WARNING
            if sev.rank >= rank:
                out.add(code)
    return out


def log10(v: float) -> float:
    return math.log10(max(v, 1e-300))
