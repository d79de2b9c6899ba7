"""Canonical names and the function -> op table, data-driven (no tracing involved)."""

from __future__ import annotations

import operator
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from modelcheck.ir import Node, Op, TensorMeta
from modelcheck.layers import is_atomic, module_spec
from modelcheck.trace.functions import canonical, from_aten, lower_function
from modelcheck.trace.values import ParamRef, Value

aten = torch.ops.aten


@pytest.mark.parametrize(("target", "name"), [
    (operator.add, "add"), (operator.iadd, "add"), (operator.truediv, "div"), (operator.getitem, "getitem"),
    (torch.Tensor.__radd__, "radd"), (torch.Tensor.__rsub__, "rsub"), (torch.Tensor.__rtruediv__, "rdiv"),
    (torch.Tensor.__matmul__, "matmul"), (torch.Tensor.__getitem__, "getitem"), (torch.Tensor.relu_, "relu"),
    (F.relu, "relu"), (torch.sigmoid, "sigmoid"), (F.scaled_dot_product_attention, "scaled_dot_product_attention"),
    (aten.add.Tensor, "add"), (aten.add_.Tensor, "add"), (aten._softmax.default, "softmax"),
    (aten._to_copy.default, "to"), (aten.split_with_sizes.default, "split_with_sizes"), ("view", "view"),
    ("transpose_", "transpose"), (torch.Tensor.T.__get__, "mT"), (F.log_softmax, "log_softmax"),
])
def test_canonical(target: Any, name: str) -> None:
    assert canonical(target) == name


def _value(*shape: int, dtype: str = "float32") -> Value:
    return Value(Node("x", Op.INPUT, "x", meta=TensorMeta(shape, dtype)), None, TensorMeta(shape, dtype))


X, Y = _value(4, 8), _value(4, 8)
W = ParamRef("fc.weight", torch.zeros(16, 8))
B = ParamRef("fc.bias", torch.zeros(16))
CONV_W = ParamRef("conv.weight", torch.zeros(6, 3, 5, 5))

CASES: list[tuple[str, tuple[Any, ...], dict[str, Any], Op, list[Any], dict[str, str], dict[str, Any]]] = [
    # name, args, kwargs -> op, operands, params, attrs (subset)
    ("add", (X, Y), {}, Op.ADD, [X, Y], {}, {}),
    ("add", (X, 1.5), {}, Op.ADD, [X], {}, {"scalar": 1.5}),
    ("add", (X, Y), {"alpha": 2}, Op.ADD, [X, Y], {}, {"alpha": 2.0}),
    ("radd", (X, 3), {}, Op.ADD, [X], {}, {"scalar": 3.0}),
    ("rsub", (X, 1.0), {}, Op.SUB, [X], {}, {"scalar": 1.0, "reversed": True}),
    ("mul", (0.5, X), {}, Op.MUL, [X], {}, {"scalar": 0.5}),
    ("div", (X, 8), {}, Op.DIV, [X], {}, {"scalar": 8.0}),
    ("rdiv", (X, 1.0), {}, Op.OTHER, [X], {}, {"note": "rdiv"}),
    ("neg", (X,), {}, Op.MUL, [X], {}, {"scalar": -1.0}),
    ("linear", (X, W, B), {}, Op.LINEAR, [X], {"weight": "fc.weight", "bias": "fc.bias"},
     {"in_features": 8, "out_features": 16}),
    ("linear", (X, Y), {}, Op.MATMUL, [X, Y], {}, {}),
    ("addmm", (B, X, W), {}, Op.OTHER, [X], {"weight": "fc.weight", "bias": "fc.bias"},
     {"note": "addmm", "weight_layout": "in_out"}),
    ("conv2d", (X, CONV_W), {"stride": 2, "padding": 1}, Op.CONV, [X], {"weight": "conv.weight"},
     {"stride": (2, 2), "padding": (1, 1), "kernel_size": (5, 5), "transposed": False}),
    ("conv_transpose2d", (X, CONV_W, None, 2), {}, Op.CONV, [X], {"weight": "conv.weight"},
     {"stride": (2, 2), "transposed": True}),
    ("layer_norm", (X, [8], W, B, 1e-6), {}, Op.NORM, [X], {"weight": "fc.weight", "bias": "fc.bias"},
     {"kind": "layer", "eps": 1e-6, "affine": True}),
    ("batch_norm", (X, B, B, None, None, True), {}, Op.NORM, [X], {"running_mean": "fc.bias", "running_var": "fc.bias"},
     {"kind": "batch", "training": True, "affine": False}),
    ("rms_norm", (X, [8], W), {}, Op.NORM, [X], {"weight": "fc.weight"}, {"kind": "rms"}),
    ("embedding", (X, W), {}, Op.EMBEDDING, [X], {"weight": "fc.weight"}, {"num_embeddings": 16}),
    ("leaky_relu", (X, 0.2), {}, Op.ACTIVATION, [X], {}, {"fn": "leaky_relu", "negative_slope": 0.2}),
    ("gelu", (X,), {"approximate": "tanh"}, Op.ACTIVATION, [X], {}, {"fn": "gelu_tanh"}),
    ("hardtanh", (X, 0.0, 6.0), {}, Op.ACTIVATION, [X], {}, {"fn": "relu6"}),
    ("clamp", (X,), {"min": 0}, Op.ACTIVATION, [X], {}, {"fn": "relu"}),
    ("softmax", (X, -1), {}, Op.SOFTMAX, [X], {}, {"dim": -1, "log": False}),
    ("log_softmax", (X,), {"dim": 1}, Op.SOFTMAX, [X], {}, {"dim": 1, "log": True}),
    ("scaled_dot_product_attention", (X, Y, Y), {"scale": 0.125, "is_causal": True}, Op.ATTENTION, [X, Y, Y], {},
     {"scale": 0.125, "is_causal": True}),
    ("max_pool2d", (X, 3), {"stride": 2}, Op.POOL, [X], {}, {"kind": "max", "kernel": 3, "stride": 2}),
    ("avg_pool2d", (X, [2, 2]), {}, Op.POOL, [X], {}, {"kind": "avg", "kernel": 2, "stride": 2}),
    ("avg_pool2d", (X, [2, 3]), {}, Op.POOL, [X], {}, {"kind": "avg", "kernel": (2, 3), "stride": (2, 3)}),
    ("adaptive_avg_pool2d", (X, [1, 1]), {}, Op.POOL, [X], {}, {"kind": "adaptive_avg", "output_size": 1}),
    ("glu", (X,), {}, Op.ACTIVATION, [X], {}, {"fn": "glu", "dim": -1}),
    ("mean", (X, [1]), {"keepdim": True}, Op.REDUCE, [X], {}, {"fn": "mean", "dims": (1,), "keepdim": True}),
    ("sum", (X,), {}, Op.REDUCE, [X], {}, {"fn": "sum", "dims": None}),
    ("cat", ([X, Y], 1), {}, Op.CONCAT, [X, Y], {}, {"dim": 1, "stack": False}),
    ("stack", ([X, Y],), {}, Op.CONCAT, [X, Y], {}, {"dim": 0, "stack": True}),
    ("chunk", (X, 3, -1), {}, Op.SPLIT, [X], {}, {"fn": "chunk", "dim": -1, "sizes": 3}),
    ("dropout", (X, 0.1, True), {}, Op.DROPOUT, [X], {}, {"p": 0.1}),
    ("pad", (X, [1, 1]), {"mode": "reflect"}, Op.PAD, [X], {}, {"mode": "reflect", "pad": (1, 1)}),
    ("constant_pad_nd", (X, [1, 1], 0.0), {}, Op.PAD, [X], {}, {"mode": "constant"}),
    ("interpolate", (X,), {"scale_factor": 2.0, "mode": "bilinear"}, Op.UPSAMPLE, [X], {},
     {"scale": 2.0, "mode": "bilinear"}),
    ("view", (X, 32), {}, Op.RESHAPE, [X], {}, {"fn": "view"}),
    ("expand_as", (X, Y), {}, Op.RESHAPE, [X], {}, {}),  # the shape donor is not an operand
    ("einsum", ("ij,jk->ik", X, Y), {}, Op.MATMUL, [X, Y], {}, {"equation": "ij,jk->ik"}),
    ("zeros", ([2, 3],), {}, Op.CONST, [], {}, {}),
    ("where", (X, Y, 0.0), {}, Op.OTHER, [X, Y], {}, {"note": "where"}),
]


@pytest.mark.parametrize(("name", "args", "kwargs", "op", "operands", "params", "attrs"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_lower_function(name: str, args: tuple[Any, ...], kwargs: dict[str, Any], op: Op, operands: list[Any],
                        params: dict[str, str], attrs: dict[str, Any]) -> None:
    spec = lower_function(name, args, kwargs)
    assert spec.op is op
    assert [id(x) for x in spec.inputs] == [id(x) for x in operands]
    assert {k: p.name for k, p in spec.params.items()} == params
    assert {k: spec.attrs.get(k) for k in attrs} == attrs


def test_from_aten_reorders_functional_layout() -> None:
    # aten.embedding(weight, indices, padding_idx) -> F.embedding(indices, weight, padding_idx)
    assert from_aten("embedding", ("w", "ids", -1), aten.embedding.default) == ("ids", "w", None)
    # aten.batch_norm(x, w, b, mean, var, training, momentum, eps, cudnn) -> F layout, no cudnn flag
    args = ("x", "w", "b", "m", "v", True, 0.1, 1e-5, False)
    assert from_aten("batch_norm", args, aten.batch_norm.default) == ("x", "m", "v", "w", "b", True, 0.1, 1e-5)
    assert from_aten("batch_norm", ("x", "m", "v"), F.batch_norm) == ("x", "m", "v")  # already functional


@pytest.mark.parametrize(("module", "atomic", "op", "attrs"), [
    (torch.nn.Linear(3, 4), True, Op.LINEAR, {"in_features": 3, "out_features": 4}),
    (torch.nn.ConvTranspose2d(3, 4, 2, stride=2), True, Op.CONV, {"transposed": True, "stride": (2, 2)}),
    (torch.nn.GroupNorm(2, 4), True, Op.NORM, {"kind": "group", "num_groups": 2}),
    (torch.nn.InstanceNorm2d(4), True, Op.NORM, {"kind": "instance", "affine": False}),
    (torch.nn.RMSNorm(4), True, Op.NORM, {"kind": "rms"}),
    (torch.nn.LeakyReLU(0.3), True, Op.ACTIVATION, {"fn": "leaky_relu", "negative_slope": 0.3}),
    (torch.nn.ReLU6(), True, Op.ACTIVATION, {"fn": "relu6"}),
    (torch.nn.GELU("tanh"), True, Op.ACTIVATION, {"fn": "gelu_tanh"}),
    (torch.nn.PReLU(), True, Op.ACTIVATION, {"fn": "prelu", "negative_slope": 0.25}),
    (torch.nn.Softmax(dim=1), True, Op.SOFTMAX, {"dim": 1}),
    (torch.nn.AvgPool2d(3, 1), True, Op.POOL, {"kind": "avg", "kernel": 3, "stride": 1}),
    (torch.nn.ReflectionPad2d(2), True, Op.PAD, {"mode": "reflect"}),
    (torch.nn.Dropout2d(0.2), True, Op.DROPOUT, {"p": 0.2}),
    (torch.nn.GRU(3, 5, num_layers=2), True, Op.RECURRENT, {"mode": "GRU", "num_layers": 2}),
    (torch.nn.Upsample(scale_factor=2), True, Op.UPSAMPLE, {"scale": 2.0}),
    (torch.nn.Sequential(), False, None, {}),
    (torch.nn.TransformerEncoderLayer(8, 2), False, None, {}),
])
def test_atomic_modules(module: torch.nn.Module, atomic: bool, op: Op | None, attrs: dict[str, Any]) -> None:
    assert is_atomic(module) is atomic
    if op is not None:
        got_op, got = module_spec(module)
        assert got_op is op and {k: got.get(k) for k in attrs} == attrs
