"""The probe's training loop: K steps on the synthetic task, measured per layer and per step.

Per step, one host read (before the optimizer step, so a non-finite loss or gradient stops the run with
finite parameters) carries the loss, per-layer gradient/activation statistics, and the previous update's
displacement ``||theta - theta_0||`` and Adam series. A non-finite loss or gradient replays the step's
forward with every module checked (``FiniteTracer``) to name the module that produced it. Parameters are
updated in place on the user's model; the only parameter-sized copy is theta_0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from modelcheck.probe.adam import AdamTracker
from modelcheck.probe.measure import (
    Collector,
    Displacement,
    FiniteTracer,
    LayerIndex,
    StepMonitor,
    param_sumsq,
    per_layer,
)
from modelcheck.probe.records import NonFinite, StepRecord
from modelcheck.probe.stability import SharpnessTracker
from modelcheck.probe.task import Task


@dataclass
class TrainLog:
    records: list[StepRecord] = field(default_factory=list)
    nonfinite: NonFinite | None = None
    call_order: list[str] = field(default_factory=list)  # module labels in first-step firing order
    unused: list[str] = field(default_factory=list)  # layers whose parameters never got a gradient


class Trainer:
    def __init__(self, model: torch.nn.Module, index: LayerIndex, task: Task, optimizer: torch.optim.Optimizer,
                 device: torch.device, *, adam: AdamTracker | None = None,
                 sharpness: SharpnessTracker | None = None) -> None:
        self.model, self.index, self.task, self.opt, self.device = model, index, task, optimizer, device
        self.adam, self.sharpness = adam, sharpness
        self.params = index.flat_params
        owner = index.owner()
        self.owner_of = owner.tolist()  # host copy: python lookups must not read device memory
        self.owner = owner.to(device)
        self._owner_subsets: dict[tuple[int, ...], torch.Tensor] = {}
        self.n = len(index.labels)
        self.numel = per_layer(torch.tensor([float(p.numel()) for p in self.params], device=device),
                               self.owner, self.n).tolist()
        self.displacement = Displacement(self.params)  # holds theta_0: the one parameter-sized copy
        norm0 = per_layer(param_sumsq([p.detach() for p in self.params]).to(device), self.owner, self.n)
        self.norm0 = norm0.sqrt().tolist()
        self._rng: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self.monitor = StepMonitor(index)
        self.col = Collector(device)
        self.log = TrainLog()
        self._got_grad = [False] * self.n

    def loss(self) -> torch.Tensor:
        return self.task.loss(self.model(*self.task.inputs))

    def run(self, steps: int, after_update: Callable[[int], None], advance: Callable[[str], None]) -> TrainLog:
        pending: dict[str, Any] | None = None
        with self.monitor:
            for step in range(steps):
                if self.sharpness is not None and self.sharpness.due(step):
                    self.sharpness.check(step)
                read = self._forward_backward()
                if pending is not None:
                    self._finish(pending, read)
                pending = self._pending(step, read)
                if self._check_finite(step, read):
                    # Recorded, but the update is not taken: parameters stay finite and unmoved.
                    prev = self.log.records[-1].rel_update if self.log.records else (0.0,) * self.n
                    self.log.records.append(StepRecord(rel_update=prev, **pending))
                    pending = None
                    break
                self.opt.step()
                if self.adam is not None:
                    self.adam.queue(step, self.col)
                self._queue_displacement()
                loss = pending["loss"]
                after_update(step + 1)
                advance(f"loss {loss:.3g}")
            if pending is not None:
                self._finish(pending, self.col.flush())
        self.log.unused = [label for label, got in zip(self.index.labels, self._got_grad) if not got]
        return self.log

    def _forward_backward(self) -> dict[str, list[float]]:
        self.opt.zero_grad(set_to_none=True)
        self.monitor.reset()
        cuda = self.device.type == "cuda"
        # Saved so a failing step can be replayed with the same dropout draws (host-side state: no sync).
        self._rng = (torch.get_rng_state(), torch.cuda.get_rng_state(self.device) if cuda else None)
        self.monitor.active = True
        try:
            loss = self.loss()
            loss.backward()
        finally:
            self.monitor.active = False
        if not self.log.call_order:
            self.log.call_order = list(self.monitor.calls)
        present = [i for i, p in enumerate(self.params) if p.grad is not None]
        for i in present:
            self._got_grad[self.owner_of[i]] = True
        if present:
            gsq = param_sumsq([self.params[i].grad for i in present]).to(self.device)
            self.col.add("grad", per_layer(gsq, self._owners(present), self.n))
        self.col.add("loss", loss)
        self.monitor.queue(self.col)
        return self.col.flush()

    def _owners(self, present: list[int]) -> torch.Tensor:
        """Owner indices of the parameters that have a gradient, cached (no host->device copy per step)."""
        key = tuple(present)
        if key not in self._owner_subsets:
            self._owner_subsets[key] = self.owner[torch.tensor(present, device=self.device)]
        return self._owner_subsets[key]

    def _pending(self, step: int, read: dict[str, list[float]]) -> dict[str, Any]:
        grad = read.get("grad", [0.0] * self.n)
        return {
            "step": step,
            "loss": read["loss"][0],
            "grad_rms": tuple(math.sqrt(g / n) if n and got else math.nan
                              for g, n, got in zip(grad, self.numel, self._got_grad)),
            "out_grad_rms": tuple(math.sqrt(read[f"out_grad.{i}"][0]) for i in range(self.n)),
            "act_rms": tuple(math.sqrt(read[f"act.{i}"][0]) for i in range(self.n)),
        }

    def _queue_displacement(self) -> None:
        self.col.add("disp", per_layer(self.displacement.sumsq(self.params).to(self.device), self.owner, self.n))

    def _finish(self, pending: dict[str, Any], read: dict[str, list[float]]) -> None:
        disp = read.get("disp")
        rel: tuple[float, ...] = (math.nan,) * self.n
        if disp is not None:
            # A zero-initialised layer that moved counts as relative update 1 (it moved by its own size).
            rel = tuple(math.sqrt(d) / n0 if n0 > 0 else float(d > 0) for d, n0 in zip(disp, self.norm0))
        self.log.records.append(StepRecord(rel_update=rel, **pending))
        if self.adam is not None:
            self.adam.record(pending["step"], read)

    def _replay(self) -> tuple[str | None, bool]:
        """Re-run this step's forward (same parameters, same random draws) to find where NaN/inf is born."""
        assert self._rng is not None
        cpu_state, cuda_state = self._rng
        torch.set_rng_state(cpu_state)
        if cuda_state is not None:
            torch.cuda.set_rng_state(cuda_state, self.device)
        with torch.no_grad(), FiniteTracer(self.model) as tracer:
            self.model(*self.task.inputs)
        return tracer.culprit()

    def _check_finite(self, step: int, read: dict[str, list[float]]) -> bool:
        loss = read["loss"][0]
        grads = read.get("grad", [])
        bad_grad = [i for i, g in enumerate(grads) if not math.isfinite(g)]
        if math.isfinite(loss) and not bad_grad:
            return False
        module, produced = self._replay()
        word = "NaN" if math.isnan(loss) else "inf" if math.isinf(loss) else None
        if module is not None:
            what = f"loss became {word}" if word else "activations became non-finite"
            if produced:
                detail = f"{what} at step {step} in {module}"
            else:
                detail = (f"{what} at step {step}: non-finite values entered {module} "
                          f"from code outside its submodules (functional ops or the inputs)")
            event = NonFinite(step, "forward", module, detail)
        elif word is not None:
            event = NonFinite(step, "loss", None, f"loss became {word} at step {step} with a finite output "
                              "(the MSE overflowed: the output is huge)")
        else:
            order = {label: k for k, label in enumerate(self.log.call_order)}
            labels = [self.index.labels[i] for i in bad_grad]
            last = max(labels, key=lambda label: order.get(label, -1))  # backward starts at the output
            event = NonFinite(step, "gradient", last, f"gradient became non-finite at step {step} in {last}")
        self.log.nonfinite = event
        return True
