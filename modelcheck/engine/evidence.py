"""The forward the input check already ran, as evidence against the predictions (issue 11).

The example inputs are checked with one forward pass; while it runs, :class:`capture.Measurement`
takes the RMS of the input, of the output and of every leaf module's input. Here that measurement
meets the prediction: the measured forward gain goes in the report beside the predicted one, and when
they disagree by more than 10x, a finding that rests on the predicted propagation is not an error —
it becomes a warning that shows both numbers and names the first layer whose predicted RMS left the
observed one. With ``--meta`` there is no forward and the predictions stand alone.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import NamedTuple, Sequence

from modelcheck.capture import Measurement
from modelcheck.diagnostics import Finding, Metrics, Severity
from modelcheck.ir import Graph, Op
from modelcheck.numbers import fmt_num
from modelcheck.passes.facts import SIGNAL

DISAGREE = 1.0  # decades: 10x
DIVERGED = math.log10(3.0)  # per layer: where the predicted RMS first leaves the observed one by 3x
FLOAT32_MAX = 3.4028234663852886e38
# Rules whose verdict rests on the predicted propagation (not on structure alone).
PREDICTED = frozenset({"MC102", "MC103", "MC301", "MC302", "MC303", "MC304"})


class Divergence(NamedTuple):
    layer: str
    predicted: float
    observed: float


def first_divergence(graph: Graph, measured: Measurement) -> Divergence | None:
    """The first layer (in execution order) whose output's predicted RMS is off the observed by 3x."""
    for node in graph.nodes:
        obs = measured.module_input_rms.get(node.module_path) if node.module_path else None
        if obs is None or not node.inputs:
            continue
        src = node.inputs[0]
        state = src.facts.get(SIGNAL)
        if state is None or state.q <= 0 or obs <= 0:
            continue
        pred = math.sqrt(state.q)
        if abs(math.log10(pred / obs)) > DIVERGED:
            return Divergence(src.label, pred, obs)
    return None


def measured_metrics(measured: Measurement | None) -> Metrics | None:
    """The measured forward gain, or None; a non-finite or beyond-float32 one is not a number we measured."""
    if measured is None:
        return None
    gain = measured.forward_gain
    if gain is None:
        return None
    return Metrics(forward_gain=gain if math.isfinite(gain) and gain < FLOAT32_MAX else math.inf)


def weigh(findings: Sequence[Finding], graph: Graph, predicted: Metrics, measured: Measurement | None) -> list[Finding]:
    """Errors that rest on a predicted gain the forward contradicts (>10x) become warnings."""
    if any(n.op is Op.DROPOUT and float(n.attrs.get("p") or 0.0) > 0 for n in graph.nodes):
        return list(findings)  # the check runs in eval mode: no dropout, the prediction has it
    seen = measured_metrics(measured)
    pf, mf = predicted.forward_gain, seen.forward_gain if seen is not None else None
    if pf is None or mf is None or not (pf > 0 and mf > 0) or math.isinf(mf):
        return list(findings)
    if abs(math.log10(pf) - math.log10(mf)) <= DISAGREE:
        return list(findings)
    where = first_divergence(graph, measured) if measured is not None else None
    why = (f"; measured forward gain at the example inputs {fmt_num(mf)} vs predicted {fmt_num(pf)}: the "
           "prediction is off by more than 10x")
    if where is not None:
        why += (f", first at {where.layer} (predicted RMS {fmt_num(where.predicted)}, observed "
                f"{fmt_num(where.observed)})")
    why += ", so this is a warning, not an error"
    out = []
    for f in findings:
        if f.rule in PREDICTED and f.severity is Severity.ERROR:
            numbers = {**f.numbers, "measured_forward_gain": mf, "predicted_forward_gain": pf}
            f = replace(f, severity=Severity.WARNING, message=f.message + why, numbers=numbers)
        out.append(f)
    return out
