"""Per-layer measurement during training: forward hooks, batched host reads, parameter statistics.

A *layer* is a module that owns trainable parameters itself (``named_parameters(recurse=False)``):
Linear, Conv, norms, embeddings, a MultiheadAttention's in-projection, a ReZero gate on a container.
When a step's loss or gradient is non-finite, :class:`FiniteTracer` re-runs that forward with a
finiteness check on every module's inputs and output, so the value is pinned on the module that
*produced* it (finite inputs, non-finite output).

Numbers stay on the device as 0-d tensors until :meth:`Collector.flush`, which copies them to the host in
one transfer: one synchronisation per training step on an accelerator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from modelcheck.probe.task import first_float

_CHUNK = 1 << 22  # elements of the reused buffer behind ||theta - theta_0||


def _label(path: str) -> str:
    return path or "(root)"


@dataclass(frozen=True)
class LayerIndex:
    """The model's layers (weight-bearing modules) and the parameters each owns, in definition order."""

    labels: tuple[str, ...]
    modules: tuple[nn.Module, ...]
    params: tuple[tuple[nn.Parameter, ...], ...]

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
        return cls(tuple(labels), tuple(modules), tuple(params))

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


def _all_finite(items: Any) -> bool | None:
    ts = [t for t in items if isinstance(t, torch.Tensor) and t.is_floating_point() and t.numel()]
    return all(bool(torch.isfinite(t.detach()).all()) for t in ts) if ts else None


class StepMonitor:
    """Hooks on the layers for training steps: output mean square and output-grad mean square.

    Nothing here synchronises; :meth:`queue` hands the device scalars to the step's :class:`Collector`.
    """

    def __init__(self, index: LayerIndex) -> None:
        self.index = index
        self._handles: list[Any] = []
        self.active = False  # only the training forward is recorded (not gain passes or HVPs)
        self.reset()

    def reset(self) -> None:
        n = len(self.index.labels)
        self.act: list[list[torch.Tensor]] = [[] for _ in range(n)]
        self.out_grad: list[list[torch.Tensor]] = [[] for _ in range(n)]
        self.calls: list[str] = []  # layer labels in firing order

    def __enter__(self) -> StepMonitor:
        for i, mod in enumerate(self.index.modules):
            self._handles.append(mod.register_forward_hook(self._hook(i)))
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _hook(self, layer: int) -> Any:
        label = self.index.labels[layer]

        def hook(module: nn.Module, args: tuple[Any, ...], out: Any) -> None:
            y = first_float(out) if self.active else None
            if y is None:
                return
            self.calls.append(label)
            self.act[layer].append(mean_square(y))
            if y.requires_grad:
                y.register_hook(lambda g: self.out_grad[layer].append(mean_square(g)))

        return hook

    def queue(self, col: Collector) -> None:
        """Queue this step's per-layer numbers (call after backward)."""
        nan = torch.full((), math.nan, device=col.device)
        for name, lists in (("act", self.act), ("out_grad", self.out_grad)):
            for i, vals in enumerate(lists):
                col.add(f"{name}.{i}", torch.stack(vals).mean() if vals else nan)


class FiniteTracer:
    """Where is a NaN/inf born? Hooks on *every* module check its inputs and output during one forward.

    Used only to re-run a step whose loss or gradient was non-finite (a failure path: it synchronises per
    module), so ordinary steps pay nothing. The culprit is the first module, in completion order, whose
    output is non-finite while its inputs are finite; a container whose own code (functional ops between
    its children) made the value is named the same way, since its children completed before it.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.calls: list[tuple[str, bool | None, bool]] = []  # (label, inputs finite, output finite)
        self._handles: list[Any] = []

    def __enter__(self) -> FiniteTracer:
        for path, mod in self.model.named_modules():
            self._handles.append(mod.register_forward_hook(self._hook(_label(path)), with_kwargs=True))
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _hook(self, label: str) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
            y = first_float(out)
            if y is not None:
                self.calls.append((label, _all_finite([*args, *kwargs.values()]), bool(torch.isfinite(y).all())))
        return hook

    def culprit(self) -> tuple[str | None, bool]:
        """(module, produced_here): the first module that made a non-finite output from finite inputs;
        else the first that passed one on (produced_here False); (None, False) when all were finite."""
        first = next((label for label, _, ok in self.calls if not ok), None)
        if first is None:
            return None, False
        made = next((label for label, ok_in, ok in self.calls if not ok and ok_in is not False), None)
        return (made, True) if made is not None else (first, False)


class Displacement:
    """||theta - theta_0||^2 per parameter tensor, against the one snapshot of theta_0.

    The difference goes through a reused buffer (at most ``_CHUNK`` elements per dtype), so measuring it
    every step allocates nothing and never holds a second parameter-sized copy.
    """

    def __init__(self, params: list[nn.Parameter]) -> None:
        self.theta0 = [p.detach().clone() for p in params]
        self._size = min(max((p.numel() for p in params), default=1), _CHUNK)
        self._buffers: dict[tuple[torch.dtype, torch.device], torch.Tensor] = {}

    def _buffer(self, like: torch.Tensor) -> torch.Tensor:
        key = (like.dtype, like.device)
        if key not in self._buffers:
            self._buffers[key] = torch.empty(self._size, dtype=like.dtype, device=like.device)
        return self._buffers[key]

    def sumsq(self, params: list[nn.Parameter]) -> torch.Tensor:
        out: list[torch.Tensor] = []
        for p, p0 in zip(params, self.theta0):
            flat, flat0 = p.detach().reshape(-1), p0.reshape(-1)
            buf = self._buffer(flat)
            total = torch.zeros((), dtype=torch.float32, device=flat.device)
            for i in range(0, flat.numel(), self._size):
                n = min(self._size, flat.numel() - i)
                diff = torch.sub(flat[i : i + n], flat0[i : i + n], out=buf[:n])
                total = total + torch.linalg.vector_norm(diff, dtype=torch.float32).pow(2)
            out.append(total)
        return torch.stack(out) if out else torch.zeros(0)


def param_sumsq(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Per-tensor squared L2 norms as one vector (one multi-tensor kernel where available)."""
    if not tensors:
        return torch.zeros(0)
    try:
        norms = torch._foreach_norm(tensors)  # the same kernel clip_grad_norm_ uses
    except (AttributeError, RuntimeError):
        norms = [torch.linalg.vector_norm(t) for t in tensors]
    return torch.stack([n.float() for n in norms]).pow(2)


def per_layer(values: torch.Tensor, owner: torch.Tensor, n_layers: int) -> torch.Tensor:
    """Sum per-parameter values into per-layer totals."""
    out = torch.zeros(n_layers, dtype=values.dtype, device=values.device)
    return out.index_add_(0, owner.to(values.device), values)
