"""``modelcheck lint --probe``: confirm the static findings with a short, measured training run.

    from modelcheck.probe import ProbeOptions, run_probe
    result = run_probe(model, inputs, graph, findings, ProbeOptions(steps=50, optimizer="adam"))
    result.findings      # each given finding with probe=CONFIRMED/NOT_CONFIRMED + evidence, plus MC900-903
    result.metrics       # measured SPEC §2 forward/backward gain at step 0
    result.profile       # per layer: predicted and measured activation/gradient RMS at step 0

Modules: ``task`` (synthetic task, optimizer), ``measure`` (hooks, batched reads), ``gains`` (SPEC §2),
``train`` (the loop), ``sharpness``/``stability`` (Hessian top eigenvalue vs 2/lr or 38/lr), ``adam``
(effective-step series), ``symptoms`` (ReLU activity, norm rows, attention entropy), ``verdicts`` (THEORY §6
decision rules), ``findings`` (probe-only findings), ``device``, ``progress``, ``plot``, ``runner``.

Stage 6, beside the rules. ``records`` and ``findings`` are the probe's facts, which the probe rules
(``rules/probe/``) read. May import: records, ``numerics``, the tools, settings and ``passes.facts``.
"""

from __future__ import annotations

from modelcheck.probe.device import describe_device, select_device
from modelcheck.probe.records import (
    AdamReport,
    GainPoint,
    NonFinite,
    ProbeOptions,
    ProbeResult,
    SharpnessCheck,
    SharpnessReport,
    StepRecord,
    Symptoms,
)
from modelcheck.probe.runner import run_probe

__all__ = [
    "AdamReport",
    "GainPoint",
    "NonFinite",
    "ProbeOptions",
    "ProbeResult",
    "SharpnessCheck",
    "SharpnessReport",
    "StepRecord",
    "Symptoms",
    "describe_device",
    "run_probe",
    "select_device",
]
