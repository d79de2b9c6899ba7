"""Read-only walks over the IR and its facts, shared by passes and rules: which nodes follow a weight
op along its single-consumer path, joins, gates, heads. They compute no numbers (passes do that).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

from modelcheck.ir import Graph, Node, Op
from modelcheck.passes.facts import SIGNAL, STRUCTURE, ResidualJoin, SignalState

WEIGHT_OPS = (Op.LINEAR, Op.CONV)


# Ops that keep "the same signal" for init purposes: one tensor in, one out, no join, no normalisation.
TRANSPARENT = frozenset({Op.ACTIVATION, Op.RESHAPE, Op.IDENTITY, Op.DROPOUT, Op.PAD, Op.POOL, Op.UPSAMPLE})


def is_weight_op(node: Node) -> bool:
    """Linear, Conv, or a linear layer stored (in, out) such as transformers' GPT-2 ``Conv1D``."""
    if not node.params.get("weight"):
        return False
    return node.op in WEIGHT_OPS or (node.op is Op.OTHER and node.attrs.get("weight_layout") == "in_out")


def norm_scales_by_weight(node: Node) -> bool:
    """A norm whose scale is its weight γ, so that γ = 0 zeroes its output; not one that scales by
    offset + weight (Gemma's 1 + γ), where γ = 0 is a unit scale."""
    return node.op is Op.NORM and not node.attrs.get("weight_offset")


def scalar(node: Node) -> float | None:
    """c when ``node`` is ``c * x`` or ``x / c`` for a Python number c and one tensor operand."""
    c = node.attrs.get("scalar")
    if node.op not in (Op.MUL, Op.DIV) or len(node.inputs) != 1 or isinstance(c, bool):
        return None
    if not isinstance(c, (int, float)):
        return None
    return float(c) if node.op is Op.MUL else (1.0 / c if c else math.inf)


class Step(NamedTuple):
    """What follows a weight op along its single-consumer path (see :func:`walk`)."""

    path: tuple[Node, ...]  # the transparent nodes after the op, in order
    act: Node | None  # the first activation on the path
    terminal: Node | None  # the first node that is not transparent; None at a fan-out or a dead end
    scale: float  # product of constant scalars on the path


def walk(node: Node, through: frozenset[Op] = TRANSPARENT) -> Step:
    """Follow ``node``'s output while each node has exactly one consumer and it is transparent."""
    path: list[Node] = []
    act: Node | None = None
    scale = 1.0
    cur = node
    while len(cur.users) == 1:
        nxt = cur.users[0]
        c = scalar(nxt)
        if nxt.op not in through and c is None:
            return Step(tuple(path), act, nxt, scale)
        if c is not None:
            scale *= c
        if nxt.op is Op.ACTIVATION and act is None:
            act = nxt
        path.append(nxt)
        cur = nxt
    return Step(tuple(path), act, None, scale)


def feeds(step: Step, node: Node, target: Node) -> bool:
    """The walk ended at ``target`` entering through its data input (not a side operand)."""
    end = step.path[-1] if step.path else node
    return step.terminal is target and bool(target.inputs) and target.inputs[0] is end


def reaches_output(step: Step) -> bool:
    """The walk ends at the model output, possibly through a softmax or a reduction (a head)."""
    t = step.terminal
    while t is not None and t.op in (Op.SOFTMAX, Op.REDUCE):
        t = walk(t).terminal
    return t is not None and t.op is Op.OUTPUT


def is_gate(node: Node) -> bool:
    """A two-tensor product (ReZero/LayerScale gate, GLU, modulation)."""
    return node.op is Op.MUL and scalar(node) is None and len(node.inputs) >= 2


def is_join(node: Node) -> bool:
    return node.op in (Op.ADD, Op.SUB) and len(node.inputs) >= 2 and node.inputs[0] is not node.inputs[1]


def branch_tails(graph: Graph) -> set[str]:
    """Names of weight ops the structure pass found nearest a residual join (Fixup's zero layer)."""
    out: set[str] = set()
    for n in graph.nodes:
        fact = n.facts.get(STRUCTURE)
        if isinstance(fact, ResidualJoin):
            out.update(fact.last_weight_ops)
    return out


def signal(node: Node | None) -> SignalState | None:
    s = node.facts.get(SIGNAL) if node is not None else None
    if not isinstance(s, SignalState) or not all(math.isfinite(v) for v in (s.q, s.r, s.g)):
        return None
    return s


def act_of(step: Step) -> tuple[str | None, Mapping[str, object]]:
    if step.act is None:
        return None, {}
    return str(step.act.attrs.get("fn", "")) or None, step.act.attrs
