"""The absolute-scale judgement shared by MC303 (vanishing) and MC304 (explosion)."""

from __future__ import annotations

import math
from typing import Iterator

from modelcheck.diagnostics import Severity
from modelcheck.ir import Graph
from modelcheck.passes.facts import SIGNAL, SignalSummary
from modelcheck.rule import Violation
from modelcheck_rules.signal._judge import depth, downgrade, fmt, located, suggest

OVERFLOW = 1e300  # the signal pass clips exploding predictions here


def judge(graph: Graph, *, exploding: bool) -> Iterator[Violation]:
    summary: SignalSummary | None = graph.facts.get(SIGNAL)
    if summary is None or not graph.parameters:
        return  # nothing to train: the scale of a parameter-free map is not a training problem
    fact = depth(graph)
    for kind, value in (("signal", summary.forward_gain), ("gradient", summary.backward_gain)):
        if value is None:
            continue
        if exploding:
            ratio = value
            sev = Severity.ERROR if value > 1e4 else Severity.WARNING if value > 1e3 else None
        else:
            ratio = 1.0 / value if value > 0 else math.inf
            sev = Severity.ERROR if value < 1e-4 else Severity.WARNING if value < 1e-3 else None
        if sev is None:
            continue
        if fact is not None and fact.bn_in_residual:
            sev = downgrade(sev)
        if sev is None:
            continue
        direction = "grows" if exploding else "shrinks"
        what = ("output RMS / input RMS (forward gain)" if kind == "signal"
                else "input-gradient RMS for a unit output gradient (backward gain)")
        span, node, layers = (located(graph, fact, backward=kind == "gradient", shrinking=not exploding) if fact
                              else ("", None, None))
        shown = "overflows" if value >= OVERFLOW else f"= {fmt(value)}"
        band = "[1e-4, 1e4]" if sev is Severity.ERROR else "[1e-3, 1e3]"
        yield Violation(
            f"the {kind} {direction} by {fmt(ratio)}× through the network at initialization: predicted "
            f"{what} {shown}, outside {band}"
            + (f"; most of it happens in {span}" if span else ""),
            node=node,
            severity=sev,
            fix=suggest(graph, fact, exploding=exploding),
            numbers={f"{'forward' if kind == 'signal' else 'backward'}_gain": value},
            span=layers,
        )
        return  # one finding per model: the forward and backward views share a cause
