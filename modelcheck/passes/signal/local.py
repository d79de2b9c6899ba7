"""Local simulation of opaque leaf modules (LSTM/GRU/RNN and unknown layers with weights).

No per-op rule covers a recurrent cell, so its transfer is measured on the module alone: a Gaussian
input of the predicted scale through the real (initial) weights, and one vector-Jacobian product.
This never runs the model on data; it needs the weights, so on the meta device the op passes through.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import torch

from modelcheck.ir import Graph, Node, Op
from modelcheck.passes import PassContext
from modelcheck.passes.facts import SignalState

_MAX_BATCH = 8


class LocalTransfer(NamedTuple):
    q: float
    r: float
    grad_ratio: float  # per-coordinate g_in / g_out


def simulate(graph: Graph, node: Node, ins: Sequence[SignalState | None], ctx: PassContext) -> LocalTransfer | None:
    model = ctx.model
    x_state = ins[0] if ins else None
    if model is None or x_state is None or not node.module_path or node.op not in (Op.RECURRENT, Op.OTHER):
        return None
    if not node.inputs or node.inputs[0].meta is None or not node.inputs[0].meta.is_float:
        return None
    try:
        mod = model.get_submodule(node.module_path)
    except AttributeError:
        return None
    if not node.module_type or type(mod).__name__ != node.module_type:
        return None  # a functional op inside a module, not a call of that module
    if any(p.is_meta for p in mod.parameters()) or not any(True for _ in mod.parameters()):
        return None
    shape = list(node.inputs[0].meta.shape)
    batch_dim = 0 if (node.op is not Op.RECURRENT or getattr(mod, "batch_first", False)) else 1
    if len(shape) > 1:
        shape[batch_dim] = min(shape[batch_dim], _MAX_BATCH)
    gen = torch.Generator().manual_seed(0)
    dtype = next(mod.parameters()).dtype
    x = (torch.randn(shape, generator=gen, dtype=dtype) * math.sqrt(max(x_state.q - x_state.r, 0.0))
         + math.sqrt(max(x_state.r, 0.0)) * torch.randn(shape[-1:], generator=gen, dtype=dtype))
    x.requires_grad_(True)
    try:
        with torch.enable_grad():
            out = mod(x)
            y = out[0] if isinstance(out, (tuple, list)) else out
            u = torch.randn(y.shape, generator=gen, dtype=y.dtype)
            (gx,) = torch.autograd.grad((y * u).sum(), x)
    except Exception:  # an opaque module that will not run alone: pass through
        return None
    y = y.detach().double()
    q = float((y * y).mean())
    flat = y.reshape(-1, y.shape[-1])
    r = float(flat.mean(0).pow(2).mean())
    return LocalTransfer(q, min(r, q), float(gx.double().pow(2).mean()))
