"""The ``init_stats`` pass: per parameter (and buffer) the entry statistics at initialisation.

``graph.facts["init_stats"] = {qualname: ParamStats}``. Source, in order: the tensor's data; the
:class:`~modelcheck.load.initrecord.InitRecord` captured while the model was built (``PassContext.init_records``,
e.g. on meta); PyTorch's default init for the owning module type (THEORY §4.1). Parameters with none
of these are left out (``graph.facts["init_stats_missing"]`` lists them).
"""

from __future__ import annotations

import math
from typing import Mapping

import torch

from modelcheck.ir import Graph
from modelcheck.numerics.initdist import InitRecord, constant, normal, uniform
from modelcheck.passes import PassContext, register
from modelcheck.passes.facts import INIT_STATS, ParamStats

_RNN_GATES = {"LSTM": 4, "LSTMCell": 4, "GRU": 3, "GRUCell": 3, "RNN": 1, "RNNCell": 1}
_WEIGHT_MODULES = ("Linear", "Conv", "LazyLinear", "LazyConv", "Bilinear", "NonDynamicallyQuantizableLinear")


@register(INIT_STATS)
def run(graph: Graph, ctx: PassContext) -> None:
    records: Mapping[str, object] = ctx.init_records or {}
    stats: dict[str, ParamStats] = {}
    missing: list[str] = []
    tensors = {**graph.buffers, **graph.parameters}
    for name, t in tensors.items():
        got = param_stats(name, t, records.get(name), graph)  # type: ignore[arg-type]
        if got is None:
            missing.append(name)
        else:
            stats[name] = got
    graph.facts[INIT_STATS] = stats
    graph.facts["init_stats_missing"] = tuple(missing)


def param_stats(name: str, t: torch.Tensor, record: InitRecord | None, graph: Graph) -> ParamStats | None:
    shape = tuple(int(s) for s in t.shape)
    if not t.is_meta and t.numel() > 0:
        return from_tensor(t)
    if record is not None and record.kind != "unknown":
        return from_record(record, shape, "init-record")
    default = default_record(name, shape, graph)
    return from_record(default, shape, "default") if default is not None else None


def from_tensor(t: torch.Tensor) -> ParamStats:
    d = t.detach()
    if d.is_complex():  # real and imaginary parts as entries (FNO spectral weights)
        d = torch.view_as_real(d)
    if not d.is_floating_point():
        d = d.to(torch.float64)
    elif d.dtype in (torch.float16, torch.bfloat16):
        d = d.float()
    n = int(d.numel())
    lo, hi = (float(v) for v in torch.aminmax(d))
    # one-pass moments (pairwise float32 sums: ~1e-7 relative); two-pass only when the mean dominates
    mean_f, msq = float(d.sum()) / n, float(torch.linalg.vector_norm(d)) ** 2 / n  # no squared copy
    var_f = max(msq - mean_f * mean_f, 0.0)
    if lo == hi:
        var_f, msq = 0.0, lo * lo
    elif var_f < 1e-4 * msq:
        v, m = torch.var_mean(d.to(torch.float64), unbiased=False)
        mean_f, var_f = float(m), max(float(v), 0.0)
        msq = var_f + mean_f * mean_f
    return ParamStats(
        mean=mean_f, std=math.sqrt(var_f), mean_sq=msq, fro_sq=msq * n, numel=n,
        is_zero=lo == hi == 0.0, is_constant=lo == hi, source="tensor", kind="data",
        shape=tuple(int(s) for s in t.shape), absmax=max(abs(lo), abs(hi)),
    )


def from_record(r: InitRecord, shape: tuple[int, ...], source: str) -> ParamStats:
    n = math.prod(shape) if shape else 1
    const = r.std == 0.0
    if r.kind == "constant":
        amax = abs(r.value if r.value is not None else r.mean)
    elif r.low is not None and r.high is not None:
        amax = max(abs(r.low), abs(r.high))
    else:  # expected max of n Gaussian-like entries
        amax = abs(r.mean) + r.std * math.sqrt(2 * math.log(max(n, 2)))
        if r.kind == "orthogonal" and r.value is not None:
            amax = min(amax, abs(r.value))
    return ParamStats(
        mean=r.mean, std=r.std, mean_sq=r.mean_sq, fro_sq=r.mean_sq * n, numel=n,
        is_zero=const and r.mean == 0.0, is_constant=const, source=source, kind=r.kind, shape=shape,
        absmax=amax, gain=r.value if r.kind == "orthogonal" else None,
    )


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) < 2:
        return (shape[0] if shape else 1), (shape[0] if shape else 1)
    rf = math.prod(shape[2:]) if len(shape) > 2 else 1
    return shape[1] * rf, shape[0] * rf


def _xavier_uniform(shape: tuple[int, ...]) -> InitRecord:
    fi, fo = _fans(shape)
    b = math.sqrt(6.0 / (fi + fo))
    return uniform(-b, b)


def default_record(name: str, shape: tuple[int, ...], graph: Graph) -> InitRecord | None:
    """PyTorch 2.x's default init of ``name`` from its owning module's type (THEORY §4.1 table)."""
    path, _, leaf = name.rpartition(".")
    info = graph.modules.get(path)
    mtype = info.type_name if info is not None else ""
    parent = graph.modules.get(path.rpartition(".")[0]) if path else None
    ptype = parent.type_name if parent is not None else ""
    if _under(graph, path, "Transformer") and len(shape) > 1:
        return _xavier_uniform(shape)
    if mtype == "MultiheadAttention":
        if leaf in ("in_proj_bias",):
            return constant(0.0)
        if leaf in ("bias_k", "bias_v"):
            fi, fo = _fans(shape)
            return normal(0.0, math.sqrt(2.0 / (fi + fo)))
        return _xavier_uniform(shape)
    if ptype == "MultiheadAttention" and leaf == "bias":
        return constant(0.0)  # out_proj.bias (MultiheadAttention._reset_parameters)
    if mtype in _RNN_GATES:
        hh = graph.parameters.get(f"{path}.weight_hh" if mtype.endswith("Cell") else f"{path}.weight_hh_l0")
        hidden = int(hh.shape[0]) // _RNN_GATES[mtype] if hh is not None else None
        return uniform(-1 / math.sqrt(hidden), 1 / math.sqrt(hidden)) if hidden else None
    if mtype == "Conv1D":  # Hugging Face's transposed Linear (GPT-2): normal(0, 0.02) in its __init__
        return normal(0.0, 0.02) if leaf == "weight" else constant(0.0)
    if mtype.startswith(_WEIGHT_MODULES) or "Linear" in mtype:
        w = graph.parameters.get(f"{path}.weight")
        wshape = tuple(int(s) for s in w.shape) if w is not None else shape
        fan_in = _fans(wshape)[0] if len(wshape) >= 2 else 0
        if not fan_in:
            return None
        b = 1 / math.sqrt(fan_in)  # kaiming_uniform(a=√5) ≡ U(±1/√fan_in); bias the same bound
        return uniform(-b, b)
    if mtype in ("Embedding", "EmbeddingBag"):
        return normal(0.0, 1.0)
    if mtype == "PReLU":
        return constant(0.25)
    if "Norm" in mtype or "norm" in mtype:
        if leaf in ("weight", "running_var"):
            return constant(1.0)
        if leaf in ("bias", "running_mean", "num_batches_tracked"):
            return constant(0.0)
    return None


def _under(graph: Graph, path: str, type_name: str) -> bool:
    while path:
        path = path.rpartition(".")[0]
        info = graph.modules.get(path)
        if info is not None and info.type_name == type_name:
            return True
    return False
