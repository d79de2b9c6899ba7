"""Residual joins (skip + branch), their scaling patterns, and the stacks (trunks) they form.

A join is an ADD/SUB of two activations whose nearest fork reaches one operand (the skip) through
fewer weight ops than the other (the branch). The fork is the common ancestor with the cheapest skip,
the nearest one on ties, so ``x + attn(ln(x)) + mlp(ln(x))`` still forks at ``x``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from modelcheck.ir import Node, Op
from modelcheck.passes.facts import ResidualJoin, ResidualStack, fan_in, param_info
from modelcheck.passes.structure.graph import (
    PASSTHROUGH,
    Topo,
    back_distances,
    between,
    param_gate,
    scalar_factor,
)

GATE_MAX = 0.1  # ReZero / SkipInit / LayerScale: a branch gate initialised at most this large
SMALL_LAST_MIN_BLOCKS = 4  # 1/sqrt(4) = 0.5 < 0.577, PyTorch's default std*sqrt(fan_in): never "small"
BRANCH_SCALE_MAX = 0.5  # NF-ResNet's alpha = 0.2; a branch x 0.9 is not a scaling scheme
_POST_NORM_KINDS = ("layer", "rms")
_WINDOW = 256  # nodes above a join searched first for its fork
_LINK_THROUGH = PASSTHROUGH + (Op.NORM, Op.ACTIVATION)


class _Join(NamedTuple):
    node: Node
    fork: Node
    skip: Node
    branch: Node
    skip_w: int
    branch_w: int
    inside: list[Node]  # branch nodes, topological


def _same_shape(a: Node, b: Node) -> bool:
    if a.meta is None or b.meta is None:
        return True
    return tuple(a.meta.shape) == tuple(b.meta.shape)


def _find(topo: Topo, node: Node) -> _Join | None:
    if node.op not in (Op.ADD, Op.SUB):
        return None
    live = topo.live_inputs(node)
    if len(live) != 2 or live[0] is live[1] or not _same_shape(*live):
        return None
    a, b = live
    # Look near the join first: an identity skip (0 weight ops) found there cannot be beaten further up.
    lo = max(min(topo.index[a], topo.index[b]) - _WINDOW, 0)
    for start in ((lo, 0) if lo else (0,)):
        da, db = back_distances(topo, a, start), back_distances(topo, b, start)
        common = [c for c in da if c in db]
        if not common:
            continue
        fork = min(common, key=lambda c: (min(da[c], db[c]), -topo.index[c]))
        if min(da[fork], db[fork]) == 0 or start == 0:
            break
    else:
        return None
    if not common:
        return None
    if da[fork] == db[fork]:
        return None  # two parallel paths of equal depth: nothing is bypassed
    skip, branch = (a, b) if da[fork] < db[fork] else (b, a)
    inside = between(topo, fork, branch)
    return _Join(node, fork, skip, branch, int(min(da[fork], db[fork])),
                 int(max(da[fork], db[fork])), inside)


def _skip_scale(topo: Topo, j: _Join) -> float:
    scale, n = 1.0, j.skip
    while n is not j.fork:
        sf = scalar_factor(topo, n)
        gate = param_gate(topo, n) if sf is None else None
        if sf is not None:
            scale *= sf[1]
            n = sf[0]
        elif gate is not None:  # Admin's omega: a vector Parameter on the skip
            info = param_info(topo.graph, next(i for i in n.inputs if i.op is Op.PARAM).params.get("value"))
            scale *= info.rms if info is not None else 1.0
            n = gate[0]
        elif n.op in PASSTHROUGH and topo.live_inputs(n):
            n = topo.live_inputs(n)[0]
        else:
            break
    return scale


def _branch_tail(topo: Topo, j: _Join) -> tuple[float, float | None]:
    """Constant scale and gate init on the branch's tail (between its last weight op and the join)."""
    scale, gate_init, n = 1.0, None, j.branch
    inside = set(j.inside)
    while n in inside:
        gate = param_gate(topo, n)  # a learnable multiplier, scalar or vector: ReZero, LayerScale
        sf = scalar_factor(topo, n) if gate is None else None
        if gate is not None:
            gate_init = gate[1] if gate_init is None else max(gate_init, gate[1])
            n = gate[0]
        elif sf is not None:
            scale *= sf[1]
            n = sf[0]
        elif n.op in PASSTHROUGH and topo.live_inputs(n):
            n = topo.live_inputs(n)[0]
        else:
            break
    return scale, gate_init


def _last_weight_ops(topo: Topo, j: _Join) -> list[Node]:
    inside, found, seen = set(j.inside), [], set()
    stack = [j.branch]
    while stack:
        n = stack.pop()
        if n in seen or n not in inside:
            continue
        seen.add(n)
        if topo.w[n]:
            found.append(n)
            continue
        stack.extend(topo.live_inputs(n))
    return sorted(found, key=topo.index.__getitem__)


def _last_gain(topo: Topo, last: list[Node]) -> tuple[float | None, bool]:
    """(max std*sqrt(fan_in) over the last weight ops, all of them zero-initialised)."""
    gains, zeros = [], []
    for w in last:
        info = param_info(topo.graph, w.params.get("weight"))
        fi = fan_in(topo.graph, w)
        zeros.append(info is not None and info.is_zero)
        if info is not None and fi:
            gains.append(info.rms * math.sqrt(fi))
    gain = max(gains) if gains and len(gains) == len(last) else None
    return gain, bool(zeros) and all(zeros)


def _post_norm(topo: Topo, node: Node) -> Node | None:
    n = node
    for _ in range(4):
        users = topo.live_users(n)
        if len(users) != 1:
            return None
        u = users[0]
        if u.op is Op.NORM:
            return u if u.attrs.get("kind") in _POST_NORM_KINDS else None
        if u.op not in PASSTHROUGH:
            return None
        n = u
    return None


def _pred(topo: Topo, fork: Node, joins: dict[Node, _Join]) -> Node | None:
    n = fork
    for _ in range(16):
        if n in joins:
            return n
        sf = scalar_factor(topo, n)
        if sf is not None:
            n = sf[0]
            continue
        ins = topo.live_inputs(n)
        if n.op not in _LINK_THROUGH or len(ins) != 1:
            return None
        n = ins[0]
    return None


def analyse(topo: Topo) -> tuple[dict[Node, ResidualJoin], list[ResidualStack]]:
    """Residual joins with their facts, and the stacks they chain into (topological order)."""
    joins: dict[Node, _Join] = {}
    for n in topo.graph.nodes:
        if n in topo.live:
            j = _find(topo, n)
            if j is not None:
                joins[n] = j
    # Stacks: each join's predecessor is the join its fork comes from (through norms/activations).
    parent: dict[Node, Node] = {}
    for n, j in joins.items():
        p = _pred(topo, j.fork, joins)
        if p is not None and p is not n:
            parent[n] = p

    def root(n: Node) -> Node:
        while n in parent:
            n = parent[n]
        return n

    groups: dict[Node, list[Node]] = {}
    for n in joins:  # joins is in topological order
        groups.setdefault(root(n), []).append(n)
    stack_of: dict[Node, tuple[int, int]] = {}
    for si, members in enumerate(groups.values()):
        for pos, n in enumerate(members):
            stack_of[n] = (si, pos)

    sizes = [len(m) for m in groups.values()]
    facts: dict[Node, ResidualJoin] = {}
    for n, j in joins.items():
        si, pos = stack_of[n]
        n_blocks = sizes[si]
        last = _last_weight_ops(topo, j)
        gain, zero_last = _last_gain(topo, last)
        b_scale, gate_init = _branch_tail(topo, j)
        s_scale = _skip_scale(topo, j)
        alpha = n.attrs.get("alpha")  # torch.add(x, y, alpha=a) scales its second operand
        if isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and len(n.inputs) > 1:
            if n.inputs[1] is j.branch:
                b_scale *= alpha
            elif n.inputs[1] is j.skip:
                s_scale *= alpha
        b_scale, s_scale = abs(b_scale), abs(s_scale)  # x - f(x) is as residual as x + f(x)
        scaling = []
        if gate_init is not None and gate_init <= GATE_MAX:
            scaling.append("gate")
        if zero_last:
            scaling.append("zero-last")
        elif gain is not None and n_blocks >= SMALL_LAST_MIN_BLOCKS and gain <= 1.0 / math.sqrt(n_blocks):
            scaling.append("small-last")
        if s_scale > 1.0 + 1e-6 or b_scale <= BRANCH_SCALE_MAX:
            scaling.append("scaled")
        post = _post_norm(topo, n)
        facts[n] = ResidualJoin(
            fork=j.fork.name, skip=j.skip.name, branch=j.branch.name,
            skip_weight_ops=j.skip_w, branch_depth=j.branch_w,
            branch_weight_ops=tuple(x.name for x in j.inside if topo.w[x]),
            last_weight_ops=tuple(x.name for x in last),
            branch_norms=tuple(x.name for x in j.inside if x.op is Op.NORM),
            branch_has_attention=any(x.op in (Op.ATTENTION, Op.SOFTMAX) for x in j.inside),
            skip_scale=s_scale, branch_scale=b_scale, gate_init=gate_init, last_gain=gain,
            scaling=tuple(scaling), post_norm=post.name if post is not None else None,
            stack=si, position=pos,
        )
    stacks = [_stack([facts[n] for n in members], members) for members in groups.values()]
    return facts, stacks


def _stack(facts: list[ResidualJoin], members: list[Node]) -> ResidualStack:
    post = [m.name for m, f in zip(members, facts) if f.post_norm is not None]
    attn = sum(1 for f in facts if f.branch_has_attention)
    post_ln = 2 * len(post) > len(facts)
    chosen = [f for f in facts if f.post_norm is not None] if post_ln else facts
    ffn = sum(1 for f in chosen if not f.branch_has_attention)
    blocks = ffn if attn and ffn else len(chosen)
    post_facts = [f for f in facts if f.post_norm is not None]
    deepnorm = bool(post_facts) and 2 * sum(1 for f in post_facts if f.skip_scale > 1.0 + 1e-6) > len(post_facts)
    return ResidualStack(
        joins=tuple(m.name for m in members), post_norm_joins=tuple(post), blocks=blocks,
        attention_joins=attn, post_ln=post_ln, deepnorm=deepnorm,
    )
