"""Depth analysis over the signal pass: the scale-free relative gradient G_rel at every block
boundary between x and y, and D = max |log10 G_rel| (THEORY §3.3, rule R5). Rules judge D; this
pass only computes it."""

from __future__ import annotations

import math

from modelcheck.ir import Graph, Node, Op
from modelcheck.passes import PassContext, register
from modelcheck.passes.facts import DEPTH, SIGNAL, DepthFact, DepthStep, SignalState

_BOUNDARY = (Op.LINEAR, Op.CONV, Op.ATTENTION, Op.RECURRENT, Op.MATMUL)


def _is_residual_add(node: Node) -> bool:
    return node.op is Op.ADD and sum(1 for i in node.inputs if SIGNAL in i.facts) >= 2


def _reach(node: Node, up: bool) -> set[Node]:
    """Every node reachable from ``node`` through inputs (``up``) or through users."""
    seen: set[Node] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        for m in (n.inputs if up else n.users):
            if m not in seen:
                seen.add(m)
                stack.append(m)
    return seen


def _ancestors(node: Node) -> set[Node]:
    return _reach(node, up=True)


def _descendants(node: Node) -> set[Node]:
    return _reach(node, up=False)


def _bn_in_residual(graph: Graph) -> bool:
    bns = [n for n in graph.of(Op.NORM) if n.attrs.get("kind") == "batch" and n.attrs.get("training", graph.training)]
    if not bns:
        return False
    for add in graph.nodes:
        if not _is_residual_add(add):
            continue
        a, b = (_ancestors(i) | {i} for i in add.inputs[:2])
        if any(bn in (a ^ b) for bn in bns):  # on one operand's path only: inside a branch
            return True
    return False


def _energy(s: SignalState, node: Node) -> float:
    return s.g * node.meta.numel * s.q if node.meta is not None else 0.0


def _trunk(graph: Graph, x: Node, y: Node) -> list[Node]:
    """Nodes every x -> y path passes through (the trunk), in topological order.

    In a topological order, n lies on every path iff no edge between relevant nodes jumps over it;
    side branches (residual branches, U-Net bottlenecks) are bypassed and so excluded.
    """
    below_y, above_x = _ancestors(y) | {y}, _descendants(x) | {x}
    relevant = [n for n in graph.nodes if n in below_y and n in above_x]
    pos = {n: i for i, n in enumerate(relevant)}
    reach = [0] * len(relevant)  # furthest position an edge from at or before i reaches
    far = 0
    for i, n in enumerate(relevant):
        for u in n.users:
            if u in pos:
                far = max(far, pos[u])
        reach[i] = far
    return [n for i, n in enumerate(relevant) if i == 0 or reach[i - 1] <= i]


@register(DEPTH, requires=(SIGNAL,))
def run(graph: Graph, ctx: PassContext) -> None:
    summary = graph.facts.get(SIGNAL)
    if summary is None or summary.y_node is None or summary.x_node is None:
        return
    x, y = graph.node(summary.x_node), graph.node(summary.y_node)
    below_y = _ancestors(y) | {y}
    path = [n for n in _trunk(graph, x, y)
            if (n.op in _BOUNDARY or _is_residual_add(n)) and SIGNAL in n.facts
            and n.facts[SIGNAL].g > 0 and _energy(n.facts[SIGNAL], n) > 0]
    if len(path) < 2:
        return
    top = path[-1]
    e_top = _energy(top.facts[SIGNAL], top)
    if e_top <= 0:
        return
    rel = [math.sqrt(_energy(n.facts[SIGNAL], n) / e_top) for n in path]
    logs = [math.log10(max(v, 1e-300)) for v in rel]
    steps = tuple(
        DepthStep(n.name, n.label, v, logs[i] - (logs[i + 1] if i + 1 < len(logs) else 0.0))
        for i, (n, v) in enumerate(zip(path, rel))
    )
    worst = max(range(len(logs)), key=lambda i: abs(logs[i]))
    last_weight = max((i for i, n in enumerate(graph.nodes) if n.op in _BOUNDARY and n in below_y), default=-1)
    final_norm = any(n.op is Op.NORM and i > last_weight and n in below_y for i, n in enumerate(graph.nodes))
    graph.facts[DEPTH] = DepthFact(
        d=abs(logs[worst]),
        direction="vanishing" if logs[worst] < 0 else "explosion",
        worst=path[worst].name,
        steps=steps,
        bn_in_residual=_bn_in_residual(graph),
        final_norm=final_norm,
    )
