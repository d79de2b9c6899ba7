"""``run_probe``: measure at init, train briefly, measure again, and judge the static findings.

Order of work (all seeded; the caller's global RNG state is restored afterwards):

1. step 0: SPEC §2 gains and the per-layer profile (one VJP on the example inputs), symptoms;
2. K training steps on the synthetic task (``train.py``), re-measuring the gains every ``log_every``
   updates and the sharpness at a few scheduled steps;
3. at the end: gains and symptoms again, the final loss;
4. verdicts for the given findings, plus the probe's own findings (MC900-MC903).

The model is moved to the probe's device and **trained in place**: afterwards its parameters are the
trained ones. Callers that need the initial weights must probe last (the CLI does) or pass a copy.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn as nn

from modelcheck.diagnostics import Finding, LayerStat, Metrics
from modelcheck.errors import ForwardError, ModelcheckError, UsageError
from modelcheck.ir import Graph
from modelcheck.passes.facts import SIGNAL
from modelcheck.probe import findings as pf
from modelcheck.probe.adam import AdamTracker
from modelcheck.probe.device import describe_device, select_device
from modelcheck.probe.gains import GainMeasurement, GainMeter
from modelcheck.probe.measure import LayerIndex
from modelcheck.probe.plot import require_matplotlib, write_plot
from modelcheck.probe.progress import progress_bar
from modelcheck.probe.records import (
    AdamReport,
    GainPoint,
    ProbeOptions,
    ProbeResult,
    SharpnessReport,
    Symptoms,
)
from modelcheck.probe.stability import SharpnessTracker
from modelcheck.probe.symptoms import SymptomProbe
from modelcheck.probe.task import make_optimizer, make_task, to_device
from modelcheck.probe.train import Trainer, TrainLog
from modelcheck.probe.verdicts import Evidence, judge


def run_probe(model: nn.Module, inputs: tuple[Any, ...], graph: Graph | None,
              findings: tuple[Finding, ...], options: ProbeOptions) -> ProbeResult:
    """Train ``model`` briefly on a synthetic task and confirm or refute ``findings`` (THEORY §6)."""
    options = options.validated()
    if options.plot:
        require_matplotlib()  # fail before training, not after
    if any(p.is_meta for p in model.parameters()):
        raise UsageError("--probe needs real weights, but the model was built on the meta device")
    device = select_device(options.device)
    started = time.perf_counter()
    fork = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork):
        torch.manual_seed(options.seed)
        try:
            result = _probe(model, inputs, graph, findings, options, device)
        except ModelcheckError:
            raise
        except (RuntimeError, ValueError, IndexError, AssertionError) as exc:  # the user's code on the batch
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ForwardError(f"probe: training step failed: {first}") from exc
    result = _with_seconds(result, time.perf_counter() - started)
    if options.plot:
        write_plot(result, options.plot)
    return result


@dataclass
class _Run:
    """Everything measured, before judging."""

    index: LayerIndex
    g0: GainMeasurement
    gains: list[GainPoint]
    symptoms: list[Symptoms]
    log: TrainLog
    final_loss: float | None
    sharpness: SharpnessReport | None
    adam: AdamReport | None
    notes: list[str]


def _probe(model: nn.Module, inputs: tuple[Any, ...], graph: Graph | None, findings: tuple[Finding, ...],
           options: ProbeOptions, device: torch.device) -> ProbeResult:
    run = _measure(model, inputs, findings, options, device)
    return _conclude(run, graph, findings, options, device)


def _measure(model: nn.Module, inputs: tuple[Any, ...], findings: tuple[Finding, ...], options: ProbeOptions,
             device: torch.device) -> _Run:
    model.to(device, non_blocking=True)
    model.train()
    index = LayerIndex.of(model)
    if not index.labels:
        raise UsageError("--probe: the model has no trainable parameters")
    notes = [f"probe: {options.steps} steps of {options.optimizer} (lr {options.lr:g}) on MSE to a fixed "
             f"N(0,1) target, seed {options.seed}"]
    meter = GainMeter(model, to_device(inputs, device), index, options.seed, device)
    watch = frozenset(f.module for f in findings if f.name == "dead-relu-risk" and f.module)

    def measure(step: int, symptoms: list[Symptoms] | None) -> GainMeasurement:
        if symptoms is None:
            return meter.measure(step)
        probe = SymptomProbe(model, device, watch)  # entered by ``measure`` around its forward pass
        try:
            return meter.measure(step, extra=probe)
        finally:
            symptoms.append(probe.result(step))

    symptoms: list[Symptoms] = []
    g0 = measure(0, symptoms)
    if g0.x_source:
        notes.append(f"probe: gains measured from x = {g0.x_source}")
    params = index.flat_params
    opt = make_optimizer(params, options)
    adam = AdamTracker(opt, params, options) if options.optimizer in ("adam", "adamw") else None
    trainer = Trainer(model, index, make_task(model, inputs, options, device), opt, device, adam=adam)
    if options.sharpness_checks > 0:
        trainer.sharpness = SharpnessTracker(options, params, opt, trainer.loss)
    gains = [g0.point]

    def after_update(updates: int) -> None:
        last = updates == options.steps
        if last or updates % max(options.log_every, 1) == 0:
            gains.append(measure(updates, symptoms if last else None).point)

    with progress_bar(options.steps, describe_device(device), options.progress) as advance:
        log = trainer.run(options.steps, after_update, advance)
    final_loss = None
    if log.nonfinite is None:
        with torch.no_grad():
            final_loss = float(trainer.loss())
    elif len(symptoms) == 1:  # stopped early: symptoms at the last finite parameters, if measurable
        try:
            measure(len(log.records) - 1, symptoms)
        except RuntimeError:
            pass
    losses = tuple(r.loss for r in log.records)
    sharp = trainer.sharpness.report(losses) if trainer.sharpness else None
    adam_report = adam.report() if adam is not None and adam.t else None
    return _Run(index, g0, gains, symptoms, log, final_loss, sharp, adam_report, notes)


def _conclude(run: _Run, graph: Graph | None, findings: tuple[Finding, ...], options: ProbeOptions,
              device: torch.device) -> ProbeResult:
    log, index = run.log, run.index
    last = log.records[-1] if log.records else None
    rel = dict(zip(index.labels, last.rel_update)) if last else {}
    used = {k: v for k, v in rel.items() if k not in log.unused}
    steps_done = len(log.records) - (1 if log.nonfinite else 0)
    evidence = Evidence(steps=steps_done, losses=tuple(r.loss for r in log.records), final_loss=run.final_loss,
                        gains=tuple(run.gains), rel_update=used,
                        first_layer=next((c for c in log.call_order if c in rel), None), nonfinite=log.nonfinite,
                        symptoms=tuple(run.symptoms), row_spread=_row_spread(index, findings))
    drop = evidence.loss_drop
    frac = run.adam.frac_below_eps if run.adam else None
    extra = pf.probe_findings(
        pf.nonfinite_finding(log.nonfinite, graph) if log.nonfinite else None,
        pf.frozen_finding(used, steps_done, graph, frac) if log.nonfinite is None else None,
        pf.stability_finding(run.sharpness, options.lr, options.optimizer),
        pf.adam_finding(run.adam, loss_fell=drop is not None and drop > 0.01),
    )
    notes = list(run.notes)
    if log.unused:
        notes.append(f"probe: never received a gradient (unused in forward?): {pf.compress_labels(log.unused)}")
    edge = pf.stability_note(run.sharpness, options.lr)
    if edge:
        notes.append(edge)
    if run.sharpness is not None and run.sharpness.method != "autograd":
        notes.append(f"probe: sharpness by {run.sharpness.method} (double backward unsupported by this model)")
    if frac is not None and frac > 0.01:
        notes.append(f"probe: {100 * frac:.3g}% of parameters have sqrt(v_hat) < eps (effectively frozen under Adam)")
    return ProbeResult(
        findings=tuple(judge(f, evidence) for f in findings) + extra,
        metrics=Metrics(forward_gain=run.g0.point.forward_gain, backward_gain=run.g0.point.backward_gain),
        device=describe_device(device),
        profile=_profile(index, run.g0, graph),
        layers=index.labels,
        steps=tuple(log.records),
        gains=tuple(run.gains),
        sharpness=run.sharpness,
        adam=run.adam,
        symptoms=tuple(run.symptoms),
        nonfinite=log.nonfinite,
        notes=tuple(notes),
        options=options,
    )


def _profile(index: LayerIndex, g0: GainMeasurement, graph: Graph | None) -> tuple[LayerStat, ...]:
    """Measured step-0 RMS per layer beside the signal pass's prediction for the same module."""
    predicted: dict[str, Any] = {}
    if graph is not None:
        for node in graph.nodes:
            state = node.facts.get(SIGNAL)
            label = node.module_path or "(root)"
            if state is not None and node.module_type and label not in predicted:
                predicted[label] = state
    rows = []
    for label, act, grad in zip(index.labels, g0.act_rms, g0.grad_rms):
        state = predicted.get(label)
        rows.append(LayerStat(label=label,
                              activation_rms=_finite(getattr(state, "rms", None)),
                              gradient_rms=_finite(getattr(state, "grad_rms", None)),
                              measured_activation_rms=act, measured_gradient_rms=grad))
    return tuple(rows)


def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None


def _row_spread(index: LayerIndex, findings: tuple[Finding, ...]) -> dict[str, float]:
    """For zero-init findings: ||W - mean row|| / ||W|| of each named layer's weight (0 = rows identical)."""
    wanted = [f.module for f in findings if f.name == "zero-init-symmetry"]
    out: dict[str, float] = {}
    for label, group in zip(index.labels, index.params):
        if not any(w is None or label == w or label.startswith(w + ".") for w in wanted):
            continue
        weight = next((p for p in group if p.dim() >= 2), None)
        if weight is None:
            continue
        w = weight.detach().float().reshape(weight.shape[0], -1)
        total = float(w.norm())
        out[label] = float((w - w.mean(0, keepdim=True)).norm()) / total if total > 0 else 0.0
    return out


def _with_seconds(result: ProbeResult, seconds: float) -> ProbeResult:
    return replace(result, seconds=seconds)
