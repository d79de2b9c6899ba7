"""The forward the input check already ran, as evidence against the predictions (issue 11).

The example inputs are checked with one forward pass; while it runs, :class:`capture.Measurement`
takes the RMS of the input, of the output and of every leaf module's input, and for a model small
enough (:func:`capture.backward_is_cheap`) one backward from that same forward: the measured backward
gain and the gradient RMS at every leaf module's input. Here that measurement meets the prediction:
the measured gains go in the report beside the predicted ones, and when they disagree by more than
10x, a finding that rests on the predicted propagation is not an error — it becomes a warning that
shows both numbers and names the first layer whose predicted RMS (or gradient RMS, for a finding on
the backward gain) left the observed one. With ``--meta`` there is no forward and the predictions
stand alone.

Given inputs with no norm to observe need no check forward: a model under the size rule runs it anyway
(for its backward gain), and one over it is measured, forward only, on the trace's own forward — fx's
live lowering (:func:`capture.riding`), or the real run that follows an export/hooks trace. The lowering
runs in training mode, the check in eval with BatchNorm on batch statistics: the same forward (SPEC §2's
training mode) except for dropout, so a measurement taken there is dropped when the graph has one
(:func:`has_dropout`). A forward that branches on ``self.training`` some other way is not seen. When fx
traces a stack of identical blocks cut to three (``trace/repeat.py``), its lowering is not the model's
forward and nothing is measured.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Iterable, Mapping, NamedTuple, Sequence

from modelcheck.capture import Measurement, float32_or_inf
from modelcheck.diagnostics import Finding, Metrics, Severity
from modelcheck.ir import Graph, Node, Op
from modelcheck.numbers import fmt_num
from modelcheck.passes.facts import SIGNAL

DISAGREE = 1.0  # decades: 10x
DIVERGED = math.log10(3.0)  # per layer: where the predicted RMS first leaves the observed one by 3x
# Rules whose verdict rests on the predicted propagation (not on structure alone).
PREDICTED = frozenset({"MC102", "MC103", "MC301", "MC302", "MC303", "MC304"})
# Of those, the ones about the gradient: weighed against the measured backward gain where there is one.
GRADIENT = frozenset({"MC103", "MC301", "MC302"})


class Divergence(NamedTuple):
    layer: str
    predicted: float
    observed: float


def _first_off(nodes: Iterable[Node], observed: Mapping[str, float], moment: str) -> Divergence | None:
    """The first of ``nodes`` whose input's predicted RMS (``sqrt`` of the SIGNAL ``moment``: q for
    the signal, g for its gradient) is off the observed one by 3x."""
    for node in nodes:
        obs = observed.get(node.module_path) if node.module_path else None
        if obs is None or not node.inputs or not 0 < obs < math.inf:  # an overflowed RMS is no observation
            continue
        src = node.inputs[0]
        state = src.facts.get(SIGNAL)
        second = getattr(state, moment) if state is not None else 0.0
        if second <= 0:
            continue
        pred = math.sqrt(second)
        if abs(math.log10(pred / obs)) > DIVERGED:
            return Divergence(src.label, pred, obs)
    return None


def first_divergence(graph: Graph, measured: Measurement) -> Divergence | None:
    """The first layer (in execution order) whose output's predicted RMS is off the observed by 3x."""
    return _first_off(graph.nodes, measured.module_input_rms, "q")


def first_gradient_divergence(graph: Graph, measured: Measurement) -> Divergence | None:
    """The first layer (in the backward's order, from the output) whose output's predicted gradient RMS
    is off the observed one by 3x (an overflowed, ``inf``, gradient is no observation)."""
    return _first_off(reversed(graph.nodes), measured.module_grad_rms, "g")


def _as_measured(gain: float | None) -> float | None:
    """A gain non-finite or beyond float32 is no number we measured: ``inf`` says it overflowed."""
    return None if gain is None else float32_or_inf(gain)


def measured_metrics(measured: Measurement | None) -> Metrics | None:
    """The measured forward (and, where the backward ran, backward) gain, or None."""
    if measured is None or measured.forward_gain is None:
        return None
    return Metrics(forward_gain=_as_measured(measured.forward_gain),
                   backward_gain=_as_measured(measured.backward_gain))


def _disagree(predicted: float | None, measured: float | None) -> bool | None:
    """More than 10x apart; None when the two cannot be compared (missing, zero, overflowed)."""
    if predicted is None or measured is None or not (predicted > 0 and measured > 0) or math.isinf(measured):
        return None
    return abs(math.log10(predicted) - math.log10(measured)) > DISAGREE


def _on_backward(f: Finding) -> bool:
    """The finding rests on the predicted backward gain (its number says so, or it is a gradient rule)."""
    return "backward_gain" in f.numbers or (f.rule in GRADIENT and "forward_gain" not in f.numbers)


def _why(kind: str, mf: float, pf: float, where: Divergence | None) -> str:
    what = "gradient RMS" if kind == "backward" else "RMS"
    why = (f"; measured {kind} gain at the example inputs {fmt_num(mf)} vs predicted {fmt_num(pf)}: the "
           "prediction is off by more than 10x")
    if where is not None:
        why += (f", first at {where.layer} (predicted {what} {fmt_num(where.predicted)}, observed "
                f"{fmt_num(where.observed)})")
    return why + ", so this is a warning, not an error"


def has_dropout(graph: Graph) -> bool:
    """A dropout with p > 0: where the check's forward (eval, BatchNorm on batch statistics) and a
    training-mode forward differ. fx's live lowering runs in training mode, so a measurement taken
    there means the same as the check's only for a model without one, and is dropped otherwise."""
    return any(n.op is Op.DROPOUT and float(n.attrs.get("p") or 0.0) > 0 for n in graph.nodes)


def weigh(findings: Sequence[Finding], graph: Graph, predicted: Metrics, measured: Measurement | None) -> list[Finding]:
    """Errors that rest on a predicted gain the forward (or its backward) contradicts (>10x) become warnings.

    A finding on the backward gain is weighed against the measured backward gain where the backward ran,
    else against the forward gain."""
    if has_dropout(graph):
        return list(findings)  # the check runs in eval mode: no dropout, the prediction has it
    seen = measured_metrics(measured)
    if seen is None or measured is None:
        return list(findings)
    gains = {"forward": (predicted.forward_gain, seen.forward_gain),
             "backward": (predicted.backward_gain, seen.backward_gain)}
    off = {kind: _disagree(p, m) for kind, (p, m) in gains.items()}
    whys: dict[str, str] = {}
    out = []
    for f in findings:
        if f.rule in PREDICTED and f.severity is Severity.ERROR:
            kind = "backward" if _on_backward(f) and off["backward"] is not None else "forward"
            if off[kind]:
                pf, mf = gains[kind]
                assert pf is not None and mf is not None
                if kind not in whys:
                    where = (first_gradient_divergence if kind == "backward" else first_divergence)(graph, measured)
                    whys[kind] = _why(kind, mf, pf, where)
                numbers = {**f.numbers, f"measured_{kind}_gain": mf, f"predicted_{kind}_gain": pf}
                f = replace(f, severity=Severity.WARNING, message=f.message + whys[kind], numbers=numbers)
        out.append(f)
    return out
