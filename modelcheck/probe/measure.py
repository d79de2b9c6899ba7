"""Per-layer measurement during training: forward hooks, batched host reads, parameter statistics.

A *layer* is a module that owns trainable parameters itself (``named_parameters(recurse=False)``):
Linear, Conv, norms, embeddings, a MultiheadAttention's in-projection, a ReZero gate on a container.
Every module (containers too) gets a finiteness check on its inputs and output, so the first non-finite
value is pinned on the module that *produced* it (finite inputs, non-finite output).

Numbers stay on the device as 0-d tensors until :meth:`Collector.flush`, which copies them to the host in
one transfer: one synchronisation per training step on an accelerator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.nn as nn

from modelcheck.probe.task import first_float

_CHUNK = 1 << 24  # elements per foreach chunk: bounds the temporaries of ||theta - theta_0||


def _label(path: str) -> str:
    return path or "(root)"


@dataclass(frozen=True)
class LayerIndex:
    """The model's layers (weight-bearing modules) and the parameters each owns, in definition order."""

    labels: tuple[str, ...]
    modules: tuple[nn.Module, ...]
    params: tuple[tuple[nn.Parameter, ...], ...]
    all_modules: tuple[tuple[str, nn.Module], ...]

    @classmethod
    def of(cls, model: nn.Module) -> LayerIndex:
        labels, modules, params = [], [], []
        seen: set[int] = set()
        for path, mod in model.named_modules():
            own = []
            for p in mod.parameters(recurse=False):
                if p.requires_grad and id(p) not in seen:
                    seen.add(id(p))
                    own.append(p)
            if own:
                labels.append(_label(path))
                modules.append(mod)
                params.append(tuple(own))
        return cls(tuple(labels), tuple(modules), tuple(params),
                   tuple((_label(p), m) for p, m in model.named_modules()))

    @property
    def flat_params(self) -> list[nn.Parameter]:
        return [p for group in self.params for p in group]

    def owner(self) -> torch.Tensor:
        """Layer index of each parameter of :attr:`flat_params` (for scatter-adding norms)."""
        return torch.tensor([i for i, group in enumerate(self.params) for _ in group], dtype=torch.long)


class Collector:
    """Device scalars queued under a key; :meth:`flush` reads them all with one device->host copy."""

    def __init__(self, device: torch.device | None = None) -> None:
        self.device = device or torch.device("cpu")
        self.dtype = torch.float32 if self.device.type == "mps" else torch.float64  # mps has no fp64
        self._keys: list[str] = []
        self._values: list[torch.Tensor] = []

    def add(self, key: str, value: torch.Tensor) -> None:
        self._keys.append(key)
        self._values.append(value.detach().reshape(-1).to(self.device, self.dtype))

    def flush(self) -> dict[str, list[float]]:
        if not self._values:
            return {}
        flat = torch.cat(self._values).cpu().tolist()
        out: dict[str, list[float]] = {}
        i = 0
        for key, v in zip(self._keys, self._values):
            n = v.numel()
            out.setdefault(key, []).extend(flat[i : i + n])  # a repeated key collects every value
            i += n
        self._keys, self._values = [], []
        return out


def mean_square(t: torch.Tensor) -> torch.Tensor:
    return t.detach().float().pow(2).mean()


def _all_finite(items: Any) -> torch.Tensor | None:
    ts = [t for t in items if isinstance(t, torch.Tensor) and t.is_floating_point() and t.numel()]
    if not ts:
        return None
    flags = [torch.isfinite(t.detach()).all() for t in ts]
    return flags[0] if len(flags) == 1 else torch.stack(flags).all()


class StepMonitor:
    """Hooks for training steps: per-layer output RMS and output-grad RMS, per-call finiteness flags."""

    def __init__(self, index: LayerIndex) -> None:
        self.index = index
        self._layer_of = {id(m): i for i, m in enumerate(index.modules)}
        self._handles: list[Any] = []
        self.active = False  # only the training forward is recorded (not gain passes or HVPs)
        self.reset()

    def reset(self) -> None:
        n = len(self.index.labels)
        self.act: list[list[torch.Tensor]] = [[] for _ in range(n)]
        self.out_grad: list[list[torch.Tensor]] = [[] for _ in range(n)]
        self.calls: list[str] = []  # module label per hooked call, firing order
        self.in_ok: list[torch.Tensor] = []
        self.out_ok: list[torch.Tensor] = []

    def __enter__(self) -> StepMonitor:
        for label, mod in self.index.all_modules:
            self._handles.append(mod.register_forward_hook(self._hook(label, mod), with_kwargs=True))
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _hook(self, label: str, mod: nn.Module) -> Any:
        layer = self._layer_of.get(id(mod))

        def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
            y = first_float(out) if self.active else None
            if y is None:
                return
            ok_in = _all_finite([*args, *kwargs.values()])
            self.calls.append(label)
            self.in_ok.append(ok_in if ok_in is not None else torch.ones((), dtype=torch.bool, device=y.device))
            self.out_ok.append(torch.isfinite(y.detach()).all())
            if layer is not None:
                self.act[layer].append(mean_square(y))
                if y.requires_grad:
                    y.register_hook(lambda g, i=layer: self.out_grad[i].append(mean_square(g)))

        return hook

    def queue(self, col: Collector) -> None:
        """Queue this step's per-layer numbers and flags (call after backward)."""
        nan = torch.full((), math.nan, device=col.device)
        for name, lists in (("act", self.act), ("out_grad", self.out_grad)):
            for i, vals in enumerate(lists):
                col.add(f"{name}.{i}", torch.stack(vals).mean() if vals else nan)
        if self.calls:
            col.add("in_ok", torch.stack([t.to(col.device) for t in self.in_ok]))
            col.add("out_ok", torch.stack([t.to(col.device) for t in self.out_ok]))

    def culprit(self, read: dict[str, list[float]]) -> tuple[str | None, bool]:
        """(module, produced_here) of the first call with a non-finite output, from a flushed read."""
        outs, ins = read.get("out_ok", []), read.get("in_ok", [])
        first = next((k for k, ok in enumerate(outs) if not ok), None)
        if first is None:
            return None, False
        for k in range(first, len(outs)):
            if not outs[k] and ins[k]:
                return self.calls[k], True
        return self.calls[first], False


def param_sumsq(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Per-tensor squared L2 norms as one vector (one multi-tensor kernel where available)."""
    if not tensors:
        return torch.zeros(0)
    try:
        norms = torch._foreach_norm(tensors)  # the same kernel clip_grad_norm_ uses
    except (AttributeError, RuntimeError):
        norms = [torch.linalg.vector_norm(t) for t in tensors]
    return torch.stack([n.float() for n in norms]).pow(2)


def diff_sumsq(params: list[torch.Tensor], base: list[torch.Tensor]) -> torch.Tensor:
    """Per-tensor ||p - p0||^2, in chunks so the temporaries stay far below a parameter copy."""
    out: list[torch.Tensor] = []
    for chunk_p, chunk_b in _chunks(params, base):
        diffs = torch._foreach_sub(chunk_p, chunk_b)
        out.append(param_sumsq(diffs))
        del diffs
    return torch.cat(out) if out else torch.zeros(0)


def _chunks(a: list[torch.Tensor], b: list[torch.Tensor]) -> Iterator[tuple[list[torch.Tensor], list[torch.Tensor]]]:
    start, size = 0, 0
    for i, t in enumerate(a):
        size += t.numel()
        if size >= _CHUNK:
            yield a[start : i + 1], b[start : i + 1]
            start, size = i + 1, 0
    if start < len(a):
        yield a[start:], b[start:]


def per_layer(values: torch.Tensor, owner: torch.Tensor, n_layers: int) -> torch.Tensor:
    """Sum per-parameter values into per-layer totals."""
    out = torch.zeros(n_layers, dtype=values.dtype, device=values.device)
    return out.index_add_(0, owner.to(values.device), values)
