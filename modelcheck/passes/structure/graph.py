"""Graph helpers for the structure pass: what counts as a weight op, which nodes carry activations,
constant scale factors, parameter statistics, and shortest/longest weight-op distances."""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable

from modelcheck.ir import Graph, Node, Op
from modelcheck.passes.facts import param_info

# Ops a value passes through unchanged in kind (shape/layout only, or identity at init).
PASSTHROUGH = (Op.RESHAPE, Op.DROPOUT, Op.IDENTITY, Op.PAD)


def weight_count(node: Node, live: set[Node]) -> int:
    """Weight ops this node stands for (MultiheadAttention: in- and out-projection = 2).

    A matmul counts when one operand is a parameter, or is computed from parameters alone (a
    parametrized or weight-normalised projection): it is not in ``live``, the input-carrying nodes.
    """
    if node.op is Op.ATTENTION:
        return 2 if node.module_type == "MultiheadAttention" or node.params else 0
    if node.op in (Op.LINEAR, Op.CONV, Op.RECURRENT):
        return 1
    if node.op is Op.MATMUL:
        return 1 if node.params or any(_param_derived(i, live) for i in node.inputs) else 0
    if node.op is Op.OTHER and "weight" in node.params:
        return 1  # e.g. addmm of an unrecognised projection module (HF Conv1D)
    return 0


def _param_derived(node: Node, live: set[Node]) -> bool:
    if node in live:
        return False
    stack, seen = [node], {node}
    while stack:
        n = stack.pop()
        if n.op is Op.PARAM:
            return True
        for i in n.inputs:
            if i not in seen and i not in live:
                seen.add(i)
                stack.append(i)
    return False


class Topo:
    """Topological index, activation liveness and weight counts, computed once per graph."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.index = {n: i for i, n in enumerate(graph.nodes)}
        live: set[Node] = set()
        for n in graph.nodes:  # nodes are topological: one sweep suffices
            if n.op is Op.INPUT or any(i in live for i in n.inputs):
                live.add(n)
        self.live = live
        self.w = {n: weight_count(n, live) for n in graph.nodes}

    def live_inputs(self, node: Node) -> list[Node]:
        return [i for i in node.inputs if i in self.live]

    def live_users(self, node: Node) -> list[Node]:
        return [u for u in node.users if u in self.live]


def _const_value(node: Node) -> float | None:
    for key in ("value", "scalar"):
        v = node.attrs.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    return None


def scalar_factor(topo: Topo, node: Node) -> tuple[Node, float] | None:
    """``(operand, c)`` when ``node`` is ``c * operand`` (or ``operand / c``) for a constant scalar c.

    Constants are Python numbers (``attrs["scalar"]``), scalar CONSTs, or one-element Parameters
    (their init value). Vector Parameters are gates, see :func:`param_gate`.
    """
    if node.op not in (Op.MUL, Op.DIV):
        return None
    live = topo.live_inputs(node)
    if len(live) != 1:
        return None
    operand = live[0]
    c = _const_value(node)
    if c is None:
        others = [i for i in node.inputs if i is not operand]
        if len(others) != 1:
            return None
        other = others[0]
        c = _const_value(other) if other.op is Op.CONST else None
        if c is None and other.op is Op.PARAM:
            info = param_info(topo.graph, other.params.get("value"))
            if info is not None and info.numel == 1:
                c = info.mean
    if c is None:
        return None
    if node.op is Op.DIV:
        if node.inputs and node.inputs[0] is not operand:
            return None  # c / x is not a scaling of x
        return (operand, math.inf) if c == 0 else (operand, 1.0 / c)
    return operand, c


def param_gate(topo: Topo, node: Node) -> tuple[Node, float] | None:
    """``(operand, max|init|)`` when ``node`` multiplies an activation by a Parameter tensor."""
    if node.op is not Op.MUL:
        return None
    live = topo.live_inputs(node)
    if len(live) != 1:
        return None
    params = [i for i in node.inputs if i.op is Op.PARAM]
    if len(params) != 1:
        return None
    info = param_info(topo.graph, params[0].params.get("value"))
    if info is None:
        return None
    return live[0], info.absmax


def shortest_in(topo: Topo, longest: bool = False) -> tuple[dict[Node, float], dict[Node, Node]]:
    """Weight ops on the shortest (longest) INPUT -> node path, node's own weight included."""
    best: dict[Node, float] = {}
    pred: dict[Node, Node] = {}
    pick = max if longest else min
    for n in topo.graph.nodes:
        if n not in topo.live:
            continue
        if n.op is Op.INPUT:
            best[n] = 0
            continue
        ins = [i for i in topo.live_inputs(n) if i in best]
        if not ins:
            continue
        p = pick(ins, key=lambda i: best[i])
        best[n] = best[p] + topo.w[n]
        pred[n] = p
    return best, pred


def shortest_out(topo: Topo) -> tuple[dict[Node, float], dict[Node, Node]]:
    """Weight ops on the shortest path from a node's output to the model OUTPUT (node excluded)."""
    best: dict[Node, float] = {}
    succ: dict[Node, Node] = {}
    out = topo.graph.output
    if out is None:
        return best, succ
    best[out] = 0
    for n in reversed(topo.graph.nodes):
        if n is out or n not in topo.live:
            continue
        us = [u for u in topo.live_users(n) if u in best]
        if not us:
            continue
        u = min(us, key=lambda v: best[v] + topo.w[v])
        best[n] = best[u] + topo.w[u]
        succ[n] = u
    return best, succ


def back_distances(topo: Topo, start: Node, lo: int = 0) -> dict[Node, float]:
    """Weight ops on the shortest path from each live ancestor's output to ``start``'s output.

    Only ancestors at topological index >= ``lo`` are visited; their distances are exact all the same,
    since a path never climbs back above an index it went below.
    """
    dist: dict[Node, float] = {start: 0}
    heap = [(-topo.index[start], start.name, start)]
    done: set[Node] = set()
    while heap:  # reverse topological order makes each popped distance final
        _, _, n = heapq.heappop(heap)
        if n in done:
            continue
        done.add(n)
        for i in topo.live_inputs(n):
            d = dist[n] + topo.w[n]
            if topo.index[i] >= lo and d < dist.get(i, math.inf):
                if i not in dist:
                    heapq.heappush(heap, (-topo.index[i], i.name, i))
                dist[i] = d
    return dist


def between(topo: Topo, lo: Node, hi: Node) -> list[Node]:
    """Nodes on some path lo -> hi (lo excluded, hi included), topological order."""
    lo_i = topo.index[lo]
    up: set[Node] = {hi}
    stack = [hi]
    while stack:
        for i in topo.live_inputs(stack.pop()):
            if topo.index[i] > lo_i and i not in up:
                up.add(i)
                stack.append(i)
    down: set[Node] = set()
    stack = [lo]
    while stack:
        for u in stack.pop().users:
            if u in up and u not in down:
                down.add(u)
                stack.append(u)
    return sorted(down, key=topo.index.__getitem__)


def walk_back(topo: Topo, node: Node, through: Iterable[Op]) -> Node:
    """Follow single live inputs back through ``through`` ops; the first node that is not one."""
    ops = tuple(through)
    while node.op in ops:
        ins = topo.live_inputs(node)
        if len(ins) != 1:
            break
        node = ins[0]
    return node
