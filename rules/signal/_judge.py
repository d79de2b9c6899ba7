"""Shared judgement for the signal rules: severity ladders and the "where does it happen" text."""

from __future__ import annotations

import math
from typing import Iterator

from modelcheck.diagnostics import Severity
from modelcheck.ir import Graph, Node, Op
from modelcheck.passes.facts import DEPTH, SIGNAL, DepthFact
from modelcheck.rule import Violation

_LADDER = (Severity.INFO, Severity.WARNING, Severity.ERROR)


def ladder(value: float, info: float, warn: float, error: float) -> Severity | None:
    """The severity whose threshold ``value`` reaches, or None below ``info``."""
    for sev, bound in zip(reversed(_LADDER), (error, warn, info)):
        if value >= bound:
            return sev
    return None


def downgrade(sev: Severity | None) -> Severity | None:
    """One level down (R5: excess attributable to train-mode BatchNorm in residual branches)."""
    if sev is None or sev is Severity.INFO:
        return None
    return _LADDER[_LADDER.index(sev) - 1]


def fmt(v: float) -> str:
    if v == 0 or not math.isfinite(v):
        return str(v)
    return f"{v:.2g}" if 1e-2 <= abs(v) < 1e4 else f"{v:.1e}"


def depth(graph: Graph) -> DepthFact | None:
    return graph.facts.get(DEPTH)


def where(graph: Graph, fact: DepthFact, *, backward: bool, shrinking: bool) -> tuple[str, Node | None]:
    """Name the layers that account for most (90%) of the loss or growth along the trunk."""
    text, first, _ = located(graph, fact, backward=backward, shrinking=shrinking)
    return text, first


def located(graph: Graph, fact: DepthFact, *, backward: bool,
            shrinking: bool) -> tuple[str, Node | None, tuple[Node, Node] | None]:
    """:func:`where`, plus the trunk's first and last layer: the span of a finding about the whole
    trunk's gain (the 90% layers differ between the forward and the backward view of one cause)."""
    nodes = [graph.node(s.node) for s in fact.steps]
    if len(nodes) < 2:
        return "", nodes[0] if nodes else None, None

    def level(n: Node) -> float:
        s = n.facts[SIGNAL]
        v = s.g * (n.meta.numel if n.meta else 1) if backward else s.q
        return 0.5 * math.log10(max(v, 1e-300))

    lv = [level(n) for n in nodes]
    # Backward: the loss accumulates from the top down, so a layer's step is its level minus the next.
    deltas = [(lv[i] - lv[i + 1]) if backward else (lv[i + 1] - lv[i]) for i in range(len(lv) - 1)]
    owners = nodes[:-1] if backward else nodes[1:]
    signed = [(-d if shrinking else d) for d in deltas]
    total = sum(d for d in signed if d > 0)
    if total <= 0:
        return "", nodes[0], (nodes[0], nodes[-1])
    order = sorted(range(len(signed)), key=lambda i: -signed[i])
    picked, acc = [], 0.0
    for i in order:
        if signed[i] <= 0 or acc >= 0.9 * total:
            break
        picked.append(i)
        acc += signed[i]
    picked.sort()
    first, last = owners[picked[0]], owners[picked[-1]]
    per = 10 ** (-(acc / len(picked)) if shrinking else acc / len(picked))
    span = first.label if first is last else f"{first.label} … {last.label}"
    return f"{span} ({len(picked)} layers, ×{fmt(per)} each on average)", first, (nodes[0], nodes[-1])


def activations_on(graph: Graph, fact: DepthFact) -> set[str]:
    return {str(n.attrs.get("fn")) for n in graph.of(Op.ACTIVATION)}


def suggest(graph: Graph, fact: DepthFact | None, *, exploding: bool) -> str:
    acts = activations_on(graph, fact) if fact else set()
    if acts & {"sigmoid", "tanh", "hardtanh", "softsign"} and not exploding:
        return ("replace the saturating activations with ReLU/GELU (kaiming_normal_ init), or add "
                "normalization (LayerNorm/BatchNorm) and residual connections")
    if exploding:
        return ("scale the init down: nn.init.kaiming_normal_(w, nonlinearity='relu') for ReLU layers "
                "(std = sqrt(2/fan_in)), zero-init or scale residual branches, or add normalization")
    return ("use nn.init.kaiming_normal_(w, nonlinearity='relu') for ReLU layers (xavier_normal_ with "
            "gain=5/3 for tanh), or add normalization (BatchNorm/LayerNorm) or residual connections")


def relative(graph: Graph, *, vanishing: bool) -> Iterator[Violation]:
    """MC301/MC302: judge D = max |log10 G_rel| in one direction (THEORY R5 ladder 1 / 2 / 4)."""
    fact = depth(graph)
    if fact is None or fact.direction != ("vanishing" if vanishing else "explosion"):
        return
    sev = ladder(fact.d, 1.0, 2.0, 4.0)
    if fact.bn_in_residual:
        sev = downgrade(sev)
    if sev is None:
        return
    worst = graph.node(fact.worst)
    span, _, layers = located(graph, fact, backward=True, shrinking=vanishing)
    g_rel = next(s.g_rel for s in fact.steps if s.node == fact.worst)
    ratio, what = (" of", "loss") if vanishing else ("×", "growth")
    yield Violation(
        f"predicted relative gradient at {worst.label} is {fmt(g_rel)}{ratio} the top "
        f"layer's (D = {fact.d:.1f} decades over {len(fact.steps)} layers)"
        + (f"; most of the {what} happens in {span}" if span else "")
        + ("; lowered one level: train-mode BatchNorm in residual branches" if fact.bn_in_residual else ""),
        node=worst,
        severity=sev,
        fix=suggest(graph, fact, exploding=not vanishing),
        numbers={"D": fact.d, "g_rel": g_rel},
        span=layers,
    )
