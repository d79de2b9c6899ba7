"""A minimal tracer for the Lipschitz / Jacobian tests: lowers ``nn.Sequential`` stacks of leaf modules,
with :class:`Residual` (x + body(x)), :class:`Concat` (cat([a(x), b(x)], 1)) and :class:`Product`
(a(x) * b(x)) combinators, into the IR, independently of ``modelcheck.trace``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from modelcheck.ir import Graph, ModuleInfo, Node, Op, TensorMeta


class Residual(nn.Module):
    def __init__(self, *body: nn.Module) -> None:
        super().__init__()
        self.body = nn.Sequential(*body)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Concat(nn.Module):
    def __init__(self, a: nn.Module, b: nn.Module) -> None:
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.a(x), self.b(x)], dim=1)


class Product(nn.Module):
    def __init__(self, a: nn.Module, b: nn.Module) -> None:
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(x) * self.b(x)


_ACT = {
    nn.ReLU: "relu",
    nn.Tanh: "tanh",
    nn.Sigmoid: "sigmoid",
    nn.SiLU: "silu",
    nn.Mish: "mish",
    nn.Hardswish: "hardswish",
    nn.Hardsigmoid: "hardsigmoid",
    nn.SELU: "selu",
    nn.ReLU6: "relu6",
    nn.Softplus: "softplus",
    nn.ELU: "elu",
    nn.LeakyReLU: "leaky_relu",
    nn.Softsign: "softsign",
    nn.Hardtanh: "hardtanh",
    nn.PReLU: "prelu",
}
_NORM = {
    nn.BatchNorm1d: "batch",
    nn.BatchNorm2d: "batch",
    nn.BatchNorm3d: "batch",
    nn.LayerNorm: "layer",
    nn.GroupNorm: "group",
    nn.InstanceNorm1d: "instance",
    nn.InstanceNorm2d: "instance",
    nn.RMSNorm: "rms",
}


def _leaf(m: nn.Module) -> tuple[Op, dict[str, Any]]:
    if isinstance(m, nn.Linear):
        return Op.LINEAR, {"in_features": m.in_features, "out_features": m.out_features}
    if isinstance(m, nn.modules.conv._ConvNd):
        return Op.CONV, {
            "stride": m.stride,
            "padding": m.padding,
            "dilation": m.dilation,
            "groups": m.groups,
            "transposed": m.transposed,
            "kernel_size": m.kernel_size,
            "padding_mode": m.padding_mode,
        }
    for cls, kind in _NORM.items():
        if isinstance(m, cls):
            return Op.NORM, {"kind": kind, "eps": m.eps, "affine": getattr(m, "weight", None) is not None}
    for cls, fn in _ACT.items():
        if isinstance(m, cls):
            attrs = {"fn": fn}
            if isinstance(m, nn.LeakyReLU):
                attrs["negative_slope"] = m.negative_slope
            if isinstance(m, nn.ELU):
                attrs["alpha"] = m.alpha
            return Op.ACTIVATION, attrs
    if isinstance(m, nn.GELU):
        return Op.ACTIVATION, {"fn": "gelu_tanh" if m.approximate == "tanh" else "gelu"}
    if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)):
        kind = "max" if "Max" in type(m).__name__ else "avg"
        return Op.POOL, {
            "kind": kind,
            "kernel": m.kernel_size,
            "stride": m.stride,
            "padding": m.padding,
            "dilation": getattr(m, "dilation", 1),
            "count_include_pad": getattr(m, "count_include_pad", True),
        }
    if isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d)):
        kind = "adaptive_max" if "Max" in type(m).__name__ else "adaptive_avg"
        return Op.POOL, {"kind": kind, "output_size": m.output_size}
    if isinstance(m, nn.Flatten):
        return Op.RESHAPE, {}
    if isinstance(m, nn.Dropout):
        return Op.DROPOUT, {"p": m.p}
    if isinstance(m, nn.Identity):
        return Op.IDENTITY, {}
    if isinstance(m, nn.Softmax):
        return Op.SOFTMAX, {"dim": m.dim, "log": False}
    if isinstance(m, nn.Upsample):
        return Op.UPSAMPLE, {"mode": m.mode, "scale": m.scale_factor}
    if isinstance(m, (nn.ZeroPad2d, nn.ReflectionPad2d, nn.ReplicationPad2d, nn.ConstantPad2d, nn.ReflectionPad1d)):
        mode = (
            "reflect"
            if "Reflection" in type(m).__name__
            else "replicate"
            if "Replication" in type(m).__name__
            else "constant"
        )
        return Op.PAD, {"mode": mode, "pad": tuple(m.padding)}
    return Op.OTHER, {"note": type(m).__name__}


class _Builder:
    def __init__(self, model: nn.Module) -> None:
        self.nodes: list[Node] = []
        self.model = model
        self.modules = {
            p: ModuleInfo(p, type(m).__name__, None, sum(q.numel() for q in m.parameters()))
            for p, m in model.named_modules()
        }

    def add(
        self,
        op: Op,
        target: str,
        inputs: tuple[Node, ...],
        out: torch.Tensor,
        path: str = "",
        mtype: str = "",
        params: dict[str, str] | None = None,
        **attrs: Any,
    ) -> Node:
        n = Node(
            f"n{len(self.nodes)}",
            op,
            target,
            inputs,
            module_path=path,
            module_type=mtype,
            meta=TensorMeta(tuple(out.shape), str(out.dtype).removeprefix("torch.")),
            params=params or {},
            attrs=attrs,
        )
        self.nodes.append(n)
        return n

    def emit(self, m: nn.Module, path: str, x: Node, t: torch.Tensor) -> tuple[Node, torch.Tensor]:
        pre = f"{path}." if path else ""
        if isinstance(m, nn.Sequential):
            for name, child in m.named_children():
                x, t = self.emit(child, pre + name, x, t)
            return x, t
        if isinstance(m, Residual):
            b, bt = self.emit(m.body, pre + "body", x, t)
            out = t + bt
            return self.add(Op.ADD, "add", (x, b), out, path), out
        if isinstance(m, (Concat, Product)):
            a, at = self.emit(m.a, pre + "a", x, t)
            b, bt = self.emit(m.b, pre + "b", x, t)
            if isinstance(m, Concat):
                out = torch.cat([at, bt], 1)
                return self.add(Op.CONCAT, "cat", (a, b), out, path, dim=1), out
            out = at * bt
            return self.add(Op.MUL, "mul", (a, b), out, path), out
        op, attrs = _leaf(m)
        out = m(t)
        params = {k: pre + k for k, _ in m.named_parameters(recurse=False)}
        params.update({k: pre + k for k, b in m.named_buffers(recurse=False) if b is not None})
        return self.add(op, type(m).__name__, (x,), out, path, type(m).__name__, params, **attrs), out


def to_ir(model: nn.Module, x: torch.Tensor, *, training: bool = False) -> Graph:
    """Lower ``model`` (evaluated at ``x`` for shapes, in eval mode) into a Graph."""
    b = _Builder(model)
    was = model.training
    model.eval()
    with torch.no_grad():
        inp = b.add(Op.INPUT, "x", (), x)
        y, yt = b.emit(model, "", inp, x)
        b.add(Op.OUTPUT, "output", (y,), yt)
    model.train(was)
    return Graph(
        b.nodes,
        tracer="test",
        parameters=dict(model.named_parameters()),
        buffers={k: v for k, v in model.named_buffers()},
        modules=b.modules,
        training=training,
    )
