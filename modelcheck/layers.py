"""Atomic layers: the modules every tracer keeps whole (one IR node per call), and their attrs.

Everything else (``Sequential``, ``ModuleList``, ``TransformerEncoderLayer``, user blocks) is traced
through. Attributes come from the module object, never from the traced ops, so the three tracers
agree by construction. A few third-party classes (transformers' activation modules, ``*RMSNorm``,
GPT-2's ``Conv1D``) are recognised by class name, without importing their libraries.
"""

from __future__ import annotations

import ast
import functools
import inspect
import textwrap
from typing import Any, Callable

import torch
from torch import nn
from torch.nn.modules import activation as _act
from torch.nn.modules import padding as _pad
from torch.nn.modules import pooling as _pooling
from torch.nn.modules.batchnorm import _NormBase
from torch.nn.modules.conv import _ConvNd, _ConvTransposeNd
from torch.nn.modules.dropout import _DropoutNd
from torch.nn.modules.instancenorm import _InstanceNorm

from modelcheck.ir import Op

Spec = tuple[Op, dict[str, Any]]

def uniform(attrs: dict[str, Any], keys: tuple[str, ...] = ("kernel", "stride", "padding", "dilation",
                                                             "output_size")) -> dict[str, Any]:
    """Pool geometry as modules spell it: ``[2, 2]`` / ``(2,)`` -> ``2``; mixed sizes stay tuples."""
    for key in keys:
        v = attrs.get(key)
        if isinstance(v, (list, tuple)) and v:
            attrs[key] = v[0] if len(set(v)) == 1 else tuple(v)
    return attrs


def ntuple(v: Any, n: int) -> Any:
    """Conv geometry as modules spell it: a tuple per spatial dim (``"same"`` stays a string)."""
    if isinstance(v, (list, tuple)):
        return tuple(v) if len(v) == n or n == 0 else tuple(v[:1]) * n
    return (v,) * n if isinstance(v, int) and n else v



def _classes(mod: Any) -> tuple[type, ...]:
    return tuple(c for _, c in inspect.getmembers(mod, inspect.isclass)
                 if issubclass(c, nn.Module) and c.__module__ == mod.__name__)


_ATOMIC: tuple[type, ...] = (
    nn.Linear, nn.Bilinear, nn.Identity, _ConvNd, _NormBase, nn.LayerNorm, nn.GroupNorm,
    nn.LocalResponseNorm, nn.CrossMapLRN2d, nn.Embedding, nn.EmbeddingBag, _DropoutNd, nn.Flatten,
    nn.Unflatten, nn.Upsample, nn.PixelShuffle, nn.PixelUnshuffle, nn.ChannelShuffle, nn.RNNBase,
    nn.RNNCellBase, nn.Fold, nn.Unfold, nn.CosineSimilarity, nn.PairwiseDistance,
) + (nn.RMSNorm,) + _classes(_act) + _classes(_pooling) + _classes(_pad)

# transformers' activation modules (``ACT2FN``), by class name -> canonical fn.
_NAMED_ACTIVATIONS = {
    "NewGELUActivation": "gelu_tanh", "GELUTanh": "gelu_tanh", "PytorchGELUTanh": "gelu_tanh",
    "FastGELUActivation": "gelu_tanh", "GELUPytorchTanh": "gelu_tanh", "AccurateGELUActivation": "gelu_tanh",
    "GELUActivation": "gelu", "ClippedGELUActivation": "gelu", "QuickGELUActivation": "quick_gelu",
    "SiLUActivation": "silu", "MishActivation": "mish", "ReLUSquaredActivation": "relu_squared",
    "LinearActivation": "identity", "LaplaceActivation": "laplace",
}


def _own(m: nn.Module, name: str) -> torch.Tensor | None:
    """A module's own parameter (``_parameters`` is not a dict on TorchScript modules)."""
    try:
        return dict(m.named_parameters(recurse=False)).get(name)
    except Exception:
        return None


def _rms_like(m: nn.Module) -> bool:
    """``LlamaRMSNorm``, ``T5LayerNorm`` and friends: x / rms(x) * weight with one 1-D weight.

    Gemma-style norms scale by ``1 + weight`` (zero-initialised): the node says so with
    ``attrs["weight_offset"]`` (:func:`weight_offset`).
    """
    name = type(m).__name__
    if not (name.endswith("RMSNorm") or name == "T5LayerNorm"):
        return False
    w = _own(m, "weight")
    return w is not None and w.dim() == 1 and _eps(m) is not None


def _number(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _number(node.operand)
        return None if v is None else (-v if isinstance(node.op, ast.USub) else v)
    return None


def _reads_weight(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr == "weight" and isinstance(n.value, ast.Name)
               and n.value.id == "self" for n in ast.walk(node))


@functools.cache
def weight_offset(cls: type) -> float:
    """c where the class's ``forward`` scales by ``c + self.weight`` (Gemma: ``1.0 + self.weight``), else 0.

    Read from the source, never by class name: any constant added to (or subtracted from) the weight
    makes the scale ``c + w``, so a zero-initialised ``w`` is not a zero scale. 0 when the source is
    unavailable or has no such sum.
    """
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(getattr(cls, "forward", None))))
    except (OSError, TypeError, SyntaxError):
        return 0.0
    for node in ast.walk(tree):
        if not isinstance(node, ast.BinOp) or not isinstance(node.op, (ast.Add, ast.Sub)):
            continue
        left, right = _number(node.left), _number(node.right)
        if left is not None and left != 0 and _reads_weight(node.right) and isinstance(node.op, ast.Add):
            return left
        if right is not None and right != 0 and _reads_weight(node.left):
            return right if isinstance(node.op, ast.Add) else -right
    return 0.0


def _eps(m: nn.Module) -> float | None:
    for key in ("variance_epsilon", "eps"):
        v = getattr(m, key, None)
        if isinstance(v, (int, float)):
            return float(v)
    return None


def _conv1d_like(m: nn.Module) -> bool:
    """transformers' GPT-2 ``Conv1D``: a linear layer whose weight is stored (in, out)."""
    if type(m).__name__ != "Conv1D":
        return False
    w = _own(m, "weight")
    return w is not None and w.dim() == 2 and hasattr(m, "nf")


def is_atomic(m: nn.Module) -> bool:
    if isinstance(m, _ATOMIC) or isinstance(m, torch.jit.ScriptModule):  # TorchScript: opaque to tracing
        return True
    name = type(m).__name__
    if name in _NAMED_ACTIVATIONS and _own(m, "weight") is None and not any(True for _ in m.parameters()):
        return True
    return _rms_like(m) or _conv1d_like(m)


# --- attrs per class --------------------------------------------------------------------------

_HANDLERS: dict[type, Callable[[Any], Spec]] = {}


def _on(*types: type) -> Callable[[Callable[[Any], Spec]], Callable[[Any], Spec]]:
    def wrap(fn: Callable[[Any], Spec]) -> Callable[[Any], Spec]:
        for t in types:
            _HANDLERS[t] = fn
        return fn

    return wrap


def _act_spec(fn: str, **attrs: Any) -> Spec:
    return Op.ACTIVATION, {"fn": fn, **attrs}


_SIMPLE_ACT = {
    nn.ReLU: "relu", nn.ReLU6: "relu6", nn.SELU: "selu", nn.SiLU: "silu", nn.Mish: "mish",
    nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.Hardsigmoid: "hardsigmoid", nn.Hardswish: "hardswish",
    nn.Softsign: "softsign", nn.LogSigmoid: "logsigmoid", nn.Tanhshrink: "tanhshrink",
}
for _cls, _fn in _SIMPLE_ACT.items():
    _HANDLERS[_cls] = lambda m, _fn=_fn: _act_spec(_fn)

_on(nn.LeakyReLU)(lambda m: _act_spec("leaky_relu", negative_slope=float(m.negative_slope)))
_on(nn.ELU)(lambda m: _act_spec("elu", alpha=float(m.alpha)))
_on(nn.CELU)(lambda m: _act_spec("celu", alpha=float(m.alpha)))
_on(nn.GELU)(lambda m: _act_spec("gelu_tanh" if m.approximate == "tanh" else "gelu"))
_on(nn.Hardtanh)(lambda m: _act_spec("hardtanh", min_val=float(m.min_val), max_val=float(m.max_val)))
_on(nn.Softplus)(lambda m: _act_spec("softplus", beta=float(m.beta), threshold=float(m.threshold)))
_on(nn.RReLU)(lambda m: _act_spec("rrelu", lower=float(m.lower), upper=float(m.upper)))
_on(nn.GLU)(lambda m: _act_spec("glu", dim=m.dim))
_on(nn.Threshold)(lambda m: _act_spec("threshold", threshold=float(m.threshold), value=float(m.value)))
_on(nn.Softshrink)(lambda m: _act_spec("softshrink", lambd=float(m.lambd)))
_on(nn.Hardshrink)(lambda m: _act_spec("hardshrink", lambd=float(m.lambd)))
_on(nn.Softmax)(lambda m: (Op.SOFTMAX, {"dim": m.dim, "log": False}))
_on(nn.LogSoftmax)(lambda m: (Op.SOFTMAX, {"dim": m.dim, "log": True}))
_on(nn.Softmin)(lambda m: (Op.SOFTMAX, {"dim": m.dim, "log": False, "negate": True}))
_on(nn.Softmax2d)(lambda m: (Op.SOFTMAX, {"dim": -3, "log": False}))


@_on(nn.PReLU)
def _prelu(m: nn.PReLU) -> Spec:
    w = m.weight
    slope = float(w.detach().float().mean()) if not w.is_meta and w.numel() else float(getattr(m, "init", 0.25))
    return _act_spec("prelu", negative_slope=slope, num_parameters=int(m.num_parameters))


@_on(nn.MultiheadAttention)
def _mha(m: nn.MultiheadAttention) -> Spec:
    return Op.ATTENTION, {
        "num_heads": m.num_heads, "embed_dim": m.embed_dim, "kdim": m.kdim, "vdim": m.vdim,
        "batch_first": bool(m.batch_first), "dropout": float(m.dropout), "bias": m.in_proj_bias is not None,
        "add_bias_kv": m.bias_k is not None, "add_zero_attn": bool(m.add_zero_attn), "is_causal": False,
    }


@_on(nn.Linear)
def _linear(m: nn.Linear) -> Spec:
    return Op.LINEAR, {"in_features": m.in_features, "out_features": m.out_features, "bias": m.bias is not None}


@_on(nn.Bilinear)
def _bilinear(m: nn.Bilinear) -> Spec:
    return Op.OTHER, {"note": "bilinear", "in1_features": m.in1_features, "in2_features": m.in2_features,
                      "out_features": m.out_features}


@_on(_ConvNd)
def _conv(m: _ConvNd) -> Spec:
    return Op.CONV, {
        "stride": m.stride, "padding": m.padding, "dilation": m.dilation, "groups": m.groups,
        "transposed": isinstance(m, _ConvTransposeNd), "kernel_size": m.kernel_size,
        "in_channels": m.in_channels, "out_channels": m.out_channels, "padding_mode": m.padding_mode,
        "output_padding": m.output_padding, "bias": m.bias is not None,
    }


@_on(_NormBase)
def _batchnorm(m: _NormBase) -> Spec:
    kind = "instance" if isinstance(m, _InstanceNorm) else "batch"
    return Op.NORM, {"kind": kind, "eps": float(m.eps), "affine": bool(m.affine), "momentum": m.momentum,
                     "track_running_stats": bool(m.track_running_stats), "num_features": m.num_features}


@_on(nn.LayerNorm)
def _layernorm(m: nn.LayerNorm) -> Spec:
    return Op.NORM, {"kind": "layer", "eps": float(m.eps), "affine": bool(m.elementwise_affine),
                     "normalized_shape": tuple(m.normalized_shape), "bias": getattr(m, "bias", None) is not None}


@_on(nn.GroupNorm)
def _groupnorm(m: nn.GroupNorm) -> Spec:
    return Op.NORM, {"kind": "group", "eps": float(m.eps), "affine": bool(m.affine), "num_groups": m.num_groups,
                     "num_channels": m.num_channels}


@_on(nn.RMSNorm)
def _rmsnorm(m: nn.RMSNorm) -> Spec:
    return Op.NORM, {"kind": "rms", "eps": m.eps, "affine": bool(m.elementwise_affine),
                     "normalized_shape": tuple(m.normalized_shape)}


@_on(nn.LocalResponseNorm, nn.CrossMapLRN2d)
def _lrn(m: Any) -> Spec:
    return Op.OTHER, {"note": "local_response_norm", "size": m.size, "alpha": m.alpha, "beta": m.beta, "k": m.k}


@_on(nn.Embedding)
def _embedding(m: nn.Embedding) -> Spec:
    attrs = {"num_embeddings": m.num_embeddings, "embedding_dim": m.embedding_dim,
             "padding_idx": m.padding_idx, "max_norm": m.max_norm}
    scale = getattr(m, "embed_scale", None)  # HF scaled embeddings (Gemma) multiply in forward
    if isinstance(scale, (int, float)) or (isinstance(scale, torch.Tensor) and scale.numel() == 1 and not scale.is_meta):
        attrs["scale"] = float(scale)
    return Op.EMBEDDING, attrs


@_on(nn.EmbeddingBag)
def _embedding_bag(m: nn.EmbeddingBag) -> Spec:
    return Op.EMBEDDING, {"num_embeddings": m.num_embeddings, "embedding_dim": m.embedding_dim,
                          "padding_idx": m.padding_idx, "mode": m.mode}


_on(_DropoutNd)(lambda m: (Op.DROPOUT, {"p": float(m.p), "kind": type(m).__name__}))
_on(nn.Flatten)(lambda m: (Op.RESHAPE, {"fn": "flatten", "start_dim": m.start_dim, "end_dim": m.end_dim}))
_on(nn.Unflatten)(lambda m: (Op.RESHAPE, {"fn": "unflatten", "dim": m.dim, "sizes": tuple(m.unflattened_size)}))
_on(nn.Identity)(lambda m: (Op.IDENTITY, {}))
_on(nn.PixelShuffle)(lambda m: (Op.RESHAPE, {"fn": "pixel_shuffle", "factor": m.upscale_factor}))
_on(nn.PixelUnshuffle)(lambda m: (Op.RESHAPE, {"fn": "pixel_unshuffle", "factor": m.downscale_factor}))
_on(nn.ChannelShuffle)(lambda m: (Op.RESHAPE, {"fn": "channel_shuffle", "groups": m.groups}))
_on(nn.Upsample)(lambda m: (Op.UPSAMPLE, {"mode": m.mode, "scale": m.scale_factor, "size": m.size,
                                          "align_corners": m.align_corners}))
_on(nn.Fold, nn.Unfold)(lambda m: (Op.OTHER, {"note": type(m).__name__.lower(), "kernel_size": m.kernel_size}))
_on(nn.CosineSimilarity, nn.PairwiseDistance)(lambda m: (Op.OTHER, {"note": type(m).__name__}))


def _pool(kind: str) -> Callable[[Any], Spec]:
    def spec(m: Any) -> Spec:
        attrs: dict[str, Any] = {"kind": kind}
        for src, dst in (("kernel_size", "kernel"), ("stride", "stride"), ("padding", "padding"),
                         ("dilation", "dilation"), ("ceil_mode", "ceil_mode"), ("output_size", "output_size"),
                         ("norm_type", "norm_type"), ("count_include_pad", "count_include_pad")):
            if hasattr(m, src):
                attrs[dst] = getattr(m, src)
        if attrs.get("stride") is None and "kernel" in attrs:
            attrs["stride"] = attrs["kernel"]
        return Op.POOL, uniform(attrs)

    return spec


_on(_pooling._MaxPoolNd, _pooling.FractionalMaxPool2d, _pooling.FractionalMaxPool3d)(_pool("max"))
_on(_pooling._AvgPoolNd)(_pool("avg"))
_on(_pooling._AdaptiveAvgPoolNd)(_pool("adaptive_avg"))
_on(_pooling._AdaptiveMaxPoolNd)(_pool("adaptive_max"))
_on(_pooling._LPPoolNd)(_pool("lp"))
_on(_pooling._MaxUnpoolNd)(lambda m: (Op.OTHER, {"note": "max_unpool", "kernel_size": m.kernel_size}))


def _padding(mode: str) -> Callable[[Any], Spec]:
    return lambda m: (Op.PAD, {"mode": mode, "pad": tuple(m.padding), "value": float(getattr(m, "value", 0.0))})


_on(_pad._ConstantPadNd)(_padding("constant"))
_on(_pad._ReflectionPadNd)(_padding("reflect"))
_on(_pad._ReplicationPadNd)(_padding("replicate"))
_on(_pad._CircularPadNd)(_padding("circular"))


@_on(nn.RNNBase)
def _rnn(m: nn.RNNBase) -> Spec:
    return Op.RECURRENT, {"mode": m.mode, "input_size": m.input_size, "hidden_size": m.hidden_size,
                          "num_layers": m.num_layers, "bias": m.bias, "batch_first": m.batch_first,
                          "dropout": float(m.dropout), "bidirectional": m.bidirectional,
                          "proj_size": getattr(m, "proj_size", 0), "nonlinearity": getattr(m, "nonlinearity", None)}


@_on(nn.RNNCellBase)
def _cell(m: nn.RNNCellBase) -> Spec:
    return Op.RECURRENT, {"mode": type(m).__name__, "input_size": m.input_size, "hidden_size": m.hidden_size,
                          "bias": m.bias, "nonlinearity": getattr(m, "nonlinearity", None)}


def module_spec(m: nn.Module, kwargs: dict[str, Any] | None = None) -> Spec:
    """Op kind and attrs of an atomic module (``kwargs``: the call's keyword arguments, if known)."""
    for cls in type(m).__mro__:
        fn = _HANDLERS.get(cls)
        if fn is not None:
            op, attrs = fn(m)
            if op is Op.ATTENTION and kwargs:
                attrs["is_causal"] = bool(kwargs.get("is_causal") or False)
            return op, attrs
    if isinstance(m, torch.jit.ScriptModule):
        return Op.OTHER, {"note": f"TorchScript {getattr(m, 'original_name', type(m).__name__)}"}
    name = type(m).__name__
    if name in _NAMED_ACTIVATIONS:
        return _act_spec(_NAMED_ACTIVATIONS[name])
    if _rms_like(m):
        attrs = {"kind": "rms", "eps": _eps(m), "affine": True}
        offset = weight_offset(type(m))
        if offset:
            attrs["weight_offset"] = offset  # scales by (offset + weight)
        return Op.NORM, attrs
    if _conv1d_like(m):
        w = _own(m, "weight")
        assert w is not None
        # Weight stored (in, out): rules must not read it as nn.Linear's (out, in).
        return Op.OTHER, {"note": "Conv1D", "in_features": int(w.shape[0]), "out_features": int(w.shape[1]),
                          "weight_layout": "in_out"}
    return Op.OTHER, {"note": name}


def module_params(m: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """(role, tensor) of a module's parameters and buffers, ``num_batches_tracked`` left out."""
    out = [(n, p) for n, p in m.named_parameters()]
    out += [(n, b) for n, b in m.named_buffers() if not n.endswith("num_batches_tracked")]
    return out


__all__ = ["is_atomic", "module_params", "module_spec"]
