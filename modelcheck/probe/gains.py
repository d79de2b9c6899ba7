"""SPEC §2 gains, measured: one forward and one VJP in training mode, plus the per-layer profile.

x is the first floating input, else the output of the first ``nn.Embedding`` executed (swapped for a leaf
by a forward hook); y is the output (``output_tensor``); u ~ N(0, 1) of y's shape, fixed for the run;
L = sum(y * u). Then forward_gain = rms(y) / rms(x) and backward_gain = rms(dL/dx).

The same pass records, for every layer on the x -> y path, rms(h_l) and rms(dL/dh_l): the quantities the
signal pass predicts (``SignalState.rms`` / ``.grad_rms``), and from them the scale-free relative gain
G_rel(l) = ||dL/dh_l|| rms(h_l) / (||u|| rms(y)) (THEORY §3.3) whose worst log10 is the depth statistic D.
Only ``autograd.grad`` with respect to x is taken, so parameter ``.grad`` is untouched.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from modelcheck.probe.measure import Collector, LayerIndex
from modelcheck.probe.records import GainPoint
from modelcheck.probe.task import first_float, output_tensor


@dataclass(frozen=True)
class GainMeasurement:
    point: GainPoint
    x_source: str | None
    act_rms: tuple[float | None, ...]  # per layer of the index
    grad_rms: tuple[float | None, ...]


def _rms(values: list[float]) -> float | None:
    if not values:
        return None
    return math.sqrt(sum(values) / len(values))


class GainMeter:
    """Measures the gains repeatedly with the same inputs and the same u (drawn once, on the CPU)."""

    def __init__(self, model: nn.Module, inputs: tuple[Any, ...], index: LayerIndex, seed: int,
                 device: torch.device) -> None:
        self.model, self.inputs, self.index, self.device = model, inputs, index, device
        self._generator = torch.Generator().manual_seed(seed + 7919)  # independent of the task's draws
        self._u: torch.Tensor | None = None

    @property
    def u(self) -> torch.Tensor | None:
        """The fixed cotangent u (None before the first measurement)."""
        return self._u

    def _u_like(self, y: torch.Tensor) -> torch.Tensor:
        if self._u is None or self._u.shape != y.shape:
            u = torch.randn(tuple(y.shape), generator=self._generator, dtype=torch.float32)
            self._u = u.to(self.device)
        return self._u.to(y.dtype)

    def measure(self, step: int, extra: contextlib.AbstractContextManager[Any] | None = None) -> GainMeasurement:
        col = Collector(self.device)
        wide = col.dtype  # float64 (float32 on mps): gains of 1e60 must not overflow
        n = len(self.index.labels)
        acts: list[list[torch.Tensor]] = [[] for _ in range(n)]
        grads: list[list[torch.Tensor]] = [[] for _ in range(n)]
        sizes: list[int] = [0] * n
        handles: list[Any] = []
        captured: dict[str, Any] = {}
        inputs = list(self.inputs)
        idx = next((i for i, t in enumerate(inputs) if isinstance(t, torch.Tensor) and t.is_floating_point()), None)
        if idx is not None:
            x = inputs[idx].detach().clone().requires_grad_(True)
            inputs[idx] = x
            captured["x"], captured["source"] = x, f"input[{idx}]"
        else:
            for path, mod in self.model.named_modules():
                if isinstance(mod, nn.Embedding):
                    handles.append(mod.register_forward_hook(self._swap_leaf(path, captured)))

        def layer_hook(i: int) -> Any:
            def hook(module: nn.Module, args: tuple[Any, ...], out: Any) -> None:
                h = first_float(out)
                if h is None:
                    return
                acts[i].append(h.detach().to(wide).pow(2).mean())
                sizes[i] = sizes[i] or h.numel()
                if h.requires_grad:
                    h.register_hook(lambda g: grads[i].append(g.detach().to(wide).pow(2).mean()))
            return hook

        handles += [m.register_forward_hook(layer_hook(i)) for i, m in enumerate(self.index.modules)]
        try:
            with extra if extra is not None else contextlib.nullcontext():
                out = self.model(*inputs)
                y = output_tensor(out)
                x = captured.get("x")
                gx = None
                if x is not None and y.requires_grad:
                    u = self._u_like(y)
                    loss = (y * u).sum()
                    (gx,) = torch.autograd.grad(loss, x, allow_unused=True)
                    if gx is None:
                        gx = torch.zeros_like(x)
        finally:
            for h in handles:
                h.remove()
        col.add("y", y.detach().to(wide).pow(2).mean())
        if x is not None:
            col.add("x", x.detach().to(wide).pow(2).mean())
        if gx is not None:
            col.add("gx", gx.detach().to(wide).pow(2).mean())
            col.add("u", self._u.to(wide).pow(2).mean())  # type: ignore[union-attr]
        for i in range(n):
            if acts[i]:
                col.add(f"a.{i}", torch.stack([a.to(wide) for a in acts[i]]))
            if grads[i]:
                col.add(f"g.{i}", torch.stack([g.to(wide) for g in grads[i]]))
        read = col.flush()
        return self._finish(step, read, sizes, int(y.numel()), captured.get("source"))

    @staticmethod
    def _swap_leaf(path: str, captured: dict[str, Any]) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...], out: Any) -> Any:
            if "x" in captured or not isinstance(out, torch.Tensor) or not out.is_floating_point():
                return None
            leaf = out.detach().requires_grad_(True)
            captured["x"], captured["source"] = leaf, f"embedding:{path}"
            return leaf
        return hook

    def _finish(self, step: int, read: dict[str, list[float]], sizes: list[int], y_numel: int,
                source: str | None) -> GainMeasurement:
        n = len(self.index.labels)
        ms_y = read["y"][0]
        ms_x = read.get("x", [math.nan])[0]
        fwd = math.sqrt(ms_y / ms_x) if ms_x > 0 else (math.inf if ms_y > 0 else None)
        bwd = math.sqrt(read["gx"][0]) if "gx" in read else None
        acts = tuple(_rms(read.get(f"a.{i}", [])) for i in range(n))
        grads = tuple(_rms(read.get(f"g.{i}", [])) for i in range(n))
        logs: list[float] = []
        if "u" in read and ms_y > 0 and math.isfinite(ms_y):
            top = math.sqrt(read["u"][0] * y_numel) * math.sqrt(ms_y)
            for a, g, size in zip(acts, grads, sizes):
                if a is None or g is None or not size:
                    continue
                rel = g * math.sqrt(size) * a / top
                if rel > 0 and math.isfinite(rel):
                    logs.append(math.log10(rel))
        d_vanish = max(0.0, -min(logs)) if logs else None
        d_explode = max(0.0, max(logs)) if logs else None
        point = GainPoint(step, fwd, bwd, d_vanish, d_explode)
        return GainMeasurement(point, source, acts, grads)
