"""A tiny hand-built IR for structure-pass unit tests (independent of the tracers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import torch

from modelcheck.diagnostics import Severity
from modelcheck.ir import Graph, ModuleInfo, Node, Op, TensorMeta


class IR:
    """Build a :class:`Graph` node by node: ``b = IR(); x = b.input(64); h = b.linear(x, 64, 64)``."""

    def __init__(self, batch: int = 8) -> None:
        self.nodes: list[Node] = []
        self.params: dict[str, torch.Tensor] = {}
        self.modules: dict[str, ModuleInfo] = {"": ModuleInfo("", "Model", None, 0)}
        self.batch = batch

    def _add(self, op: Op, target: str, inputs: tuple[Node, ...], shape: tuple[int, ...] | None = None,
             path: str = "", mtype: str = "", **attrs: Any) -> Node:
        if shape is None:
            shape = inputs[0].meta.shape if inputs and inputs[0].meta is not None else (self.batch,)
        n = Node(f"n{len(self.nodes)}", op, target, inputs, module_path=path, module_type=mtype,
                 meta=TensorMeta(tuple(shape), "float32"), attrs=dict(attrs))
        self.nodes.append(n)
        return n

    def _param(self, name: str, t: torch.Tensor) -> str:
        self.params[name] = t
        return name

    def input(self, *shape: int) -> Node:
        return self._add(Op.INPUT, "x", (), (self.batch,) + shape)

    def linear(self, x: Node, d_in: int, d_out: int, path: str, weight: torch.Tensor | None = None) -> Node:
        w = weight if weight is not None else torch.nn.Linear(d_in, d_out).weight.detach()
        self.modules[path] = ModuleInfo(path, "Linear", None, w.numel())
        n = self._add(Op.LINEAR, "Linear", (x,), x.meta.shape[:-1] + (d_out,), path, "Linear",
                      in_features=d_in, out_features=d_out)
        n.params = {"weight": self._param(f"{path}.weight", w)}
        return n

    def conv(self, x: Node, c_in: int, c_out: int, path: str, weight: torch.Tensor | None = None) -> Node:
        w = weight if weight is not None else torch.nn.Conv2d(c_in, c_out, 3).weight.detach()
        self.modules[path] = ModuleInfo(path, "Conv2d", None, w.numel())
        n = self._add(Op.CONV, "Conv2d", (x,), (x.meta.shape[0], c_out) + x.meta.shape[2:], path, "Conv2d")
        n.params = {"weight": self._param(f"{path}.weight", w)}
        return n

    def act(self, x: Node, fn: str, path: str = "") -> Node:
        return self._add(Op.ACTIVATION, fn, (x,), path=path, fn=fn)

    def norm(self, x: Node, kind: str = "layer", eps: float = 1e-5, path: str = "") -> Node:
        mtype = {"layer": "LayerNorm", "batch": "BatchNorm1d", "rms": "RMSNorm"}.get(kind, "GroupNorm")
        return self._add(Op.NORM, mtype, (x,), path=path, mtype=mtype, kind=kind, eps=eps)

    def add(self, a: Node, b: Node, path: str = "") -> Node:
        return self._add(Op.ADD, "add", (a, b), path=path)

    def mul(self, x: Node, scalar: float | None = None, param: torch.Tensor | None = None,
            other: Node | None = None, name: str = "alpha") -> Node:
        if scalar is not None:
            return self._add(Op.MUL, "mul", (x,), scalar=scalar)
        if param is not None:
            return self._add(Op.MUL, "mul", (self.param(name, param), x), x.meta.shape)
        assert other is not None
        return self._add(Op.MUL, "mul", (x, other))

    def param(self, name: str, t: torch.Tensor) -> Node:
        p = self._add(Op.PARAM, name, (), tuple(t.shape))
        p.params = {"value": self._param(name, t)}
        return p

    def const(self, *shape: int) -> Node:
        return self._add(Op.CONST, "const", (), tuple(shape))

    def div(self, x: Node, scalar: float) -> Node:
        return self._add(Op.DIV, "div", (x,), scalar=scalar)

    def reshape(self, x: Node, *shape: int) -> Node:
        return self._add(Op.RESHAPE, "view", (x,), tuple(shape))

    def matmul(self, a: Node, b: Node, shape: tuple[int, ...]) -> Node:
        return self._add(Op.MATMUL, "matmul", (a, b), shape)

    def softmax(self, x: Node) -> Node:
        return self._add(Op.SOFTMAX, "softmax", (x,), dim=-1)

    def sdpa(self, q: Node, k: Node, v: Node, scale: float | None = None) -> Node:
        return self._add(Op.ATTENTION, "scaled_dot_product_attention", (q, k, v), v.meta.shape,
                         scale=scale, is_causal=False)

    def concat(self, *xs: Node) -> Node:
        shape = list(xs[0].meta.shape)
        shape[1] = sum(x.meta.shape[1] for x in xs)
        return self._add(Op.CONCAT, "cat", tuple(xs), tuple(shape), dim=1)

    def graph(self, out: Node | tuple[Node, ...]) -> Graph:
        outs = out if isinstance(out, tuple) else (out,)
        self._add(Op.OUTPUT, "output", outs)
        return Graph(self.nodes, tracer="manual", parameters=self.params, modules=self.modules)


def _kaiming(width: int) -> torch.Tensor:
    return torch.randn(width, width) * (2.0 / width) ** 0.5


def residual_mlp(blocks: int, width: int = 32, *, norm: str | None = None, gate: float | None = None,
                 zero_last: bool = False, branch_scale: float | None = None, post_norm: bool = False,
                 kaiming: bool = False) -> Graph:
    """x -> Linear -> blocks x (x + [scale] W2 relu(W1 [norm](x))) [-> norm] -> Linear."""
    b = IR()
    h = b.linear(b.input(16), 16, width, "inp")
    for i in range(blocks):
        z = b.norm(h, norm, path=f"blocks.{i}.norm") if norm and not post_norm else h
        z = b.act(b.linear(z, width, width, f"blocks.{i}.fc1", _kaiming(width) if kaiming else None), "relu")
        w2 = torch.zeros(width, width) if zero_last else _kaiming(width) if kaiming else None
        z = b.linear(z, width, width, f"blocks.{i}.fc2", weight=w2)
        if gate is not None:
            z = b.mul(z, param=torch.full((width,), gate), name=f"blocks.{i}.gamma")
        if branch_scale is not None:
            z = b.mul(z, scalar=branch_scale)
        h = b.add(h, z, path=f"blocks.{i}")
        if norm and post_norm:
            h = b.norm(h, norm, path=f"blocks.{i}.norm")
    return b.graph(b.linear(h, width, 4, "out"))


def transformer(layers: int, d: int = 32, *, post: bool = True, alpha: float = 1.0, heads: int = 4,
                scale: float | None = None, qk_std: float | None = None, eps: float = 1e-5) -> Graph:
    """Token stream -> layers x (attention sublayer, MLP sublayer), post- or pre-LN, SDPA attention.

    ``alpha`` scales the skip (DeepNorm); ``scale`` is SDPA's (None = 1/sqrt(d_k)); ``qk_std`` the
    std of W_Q and W_K (default: PyTorch's Linear init).
    """
    b = IR(batch=4)
    t, dk = 16, d // heads
    h = b.input(t, d)

    def proj(x: Node, name: str) -> Node:
        w = torch.randn(d, d) * qk_std if qk_std is not None and name[-1] in "qk" else None
        return b.reshape(b.linear(x, d, d, name, w), 4, heads, t, dk)

    def sub(x: Node, i: int, kind: str) -> Node:
        z = x if post else b.norm(x, path=f"layers.{i}.norm_{kind}", eps=eps)
        if kind == "attn":
            q, k, v = (proj(z, f"layers.{i}.attn.{n}") for n in "qkv")
            a = b.reshape(b.sdpa(q, k, v, scale=scale), 4, t, d)
            z = b.linear(a, d, d, f"layers.{i}.attn.o")
        else:
            z = b.linear(b.act(b.linear(z, d, 4 * d, f"layers.{i}.ff1"), "gelu"), 4 * d, d, f"layers.{i}.ff2")
        skip = b.mul(x, scalar=alpha) if alpha != 1.0 else x
        out = b.add(skip, z, path=f"layers.{i}")
        return b.norm(out, path=f"layers.{i}.norm_{kind}", eps=eps) if post else out

    for i in range(layers):
        h = sub(sub(h, i, "attn"), i, "ffn")
    if not post:
        h = b.norm(h, path="norm", eps=eps)
    return b.graph(h)


def plain_mlp(depth: int, fn: str = "relu", width: int = 32, orthogonal: bool = False) -> Graph:
    b = IR()
    h = b.input(width)
    for i in range(depth):
        w = None
        if orthogonal:
            w = torch.empty(width, width)
            torch.nn.init.orthogonal_(w)
        h = b.linear(h, width, width, f"net.{2 * i}", weight=w)
        if i < depth - 1:
            h = b.act(h, fn, path=f"net.{2 * i + 1}")
    return b.graph(h)


STRUCTURE_CODES = ("MC101", "MC102", "MC103", "MC104", "MC105", "MC205")


class Found(NamedTuple):
    rule: str
    severity: Severity
    message: str
    module: str | None
    fix: str | None
    numbers: Mapping[str, float]


def lint(graph: Graph, inputs: tuple[Any, ...] | None = None, codes: tuple[str, ...] = STRUCTURE_CODES,
         init_records: Mapping[str, Any] | None = None) -> list[Found]:
    """Run the passes the structural rules need, then the rules, resolving severity as the linter does."""
    from modelcheck.passes import PassContext, run_passes
    from modelcheck.registry import load_rules
    from modelcheck.rule import RuleContext

    rules = [r for r in load_rules().rules if r.code in codes]
    meta = bool(inputs) and any(getattr(t, "is_meta", False) for t in inputs)
    ctx = PassContext(inputs=inputs, meta=meta, init_records=dict(init_records or {}))
    run_passes(graph, sorted({p for r in rules for p in r.requires}), ctx)
    assert not ctx.skipped, ctx.skipped
    out = []
    for r in rules:
        for v in r.run(graph, RuleContext("model", "model.py"), {}):
            module = v.module if v.module is not None else (v.node.label if v.node is not None else None)
            out.append(Found(r.code, v.severity or r.severity, v.message, module, v.fix, dict(v.numbers)))
    return out
