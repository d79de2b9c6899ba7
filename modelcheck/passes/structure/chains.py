"""Plain (skip-free) weight-op chains, dynamical-isometry detection, and saturating-activation chains.

R1's measure: for each weight op, the shortest input -> output path *through* it, in weight ops. A
skip or a concatenation anywhere along the way shortens it; a plain stack of N layers leaves it at N.
That is the chain whose layers only ever see gradients that crossed all the others.
"""

from __future__ import annotations

import math

import torch

from modelcheck.ir import Node, Op
from modelcheck.numerics.activations import SATURATING
from modelcheck.passes.facts import PlainChain, SaturatingChain
from modelcheck.passes.structure.graph import (
    PASSTHROUGH,
    Topo,
    scalar_factor,
    shortest_in,
    shortest_out,
)

MIN_CHAIN = 4  # chains shallower than this are not worth recording
MAX_CHAINS = 8
ISOMETRY_SAMPLES = 8
ISOMETRY_MIN_DEPTH = 8  # below this, whether a chain is isometric does not matter to any rule
ISOMETRIC_FNS = frozenset({"tanh", "hardtanh", "identity", "linear"})
_ORTHO_TOL = 0.1  # ||G/mean(diag G) - I||_F / sqrt(n); a random Gaussian square matrix gives ~1
_ORTHO_MAX_DIM = 4096
# Ops between two saturating activations that keep them "in sequence" (no join, no other nonlinearity).
_CHAIN_THROUGH = PASSTHROUGH + (Op.LINEAR, Op.CONV, Op.NORM, Op.POOL, Op.ADD, Op.SUB, Op.MUL, Op.DIV)


def _path(w: Node, pred: dict[Node, Node], succ: dict[Node, Node]) -> list[Node]:
    back, n = [], w
    while n in pred:
        n = pred[n]
        back.append(n)
    fwd, n = [], w
    while n in succ:
        n = succ[n]
        fwd.append(n)
    return back[::-1] + [w] + fwd


def _orthogonal(t: torch.Tensor) -> bool | None:
    """(Delta-)orthogonality of a weight up to a gain; None when it cannot be checked."""
    if t.is_meta or t.dim() < 2:
        return None
    m = t.detach().double()
    if m.dim() > 2:
        taps = m.flatten(2)
        nonzero = (taps.abs().sum((0, 1)) > 0).nonzero().flatten()
        m = taps[:, :, int(nonzero[0])] if len(nonzero) == 1 else m.reshape(m.shape[0], -1)
    if m.shape[0] > m.shape[1]:
        m = m.T
    if m.shape[0] > _ORTHO_MAX_DIM or m.shape[1] > 4 * _ORTHO_MAX_DIM:
        return None
    g = m @ m.T
    d = float(g.diagonal().mean())
    if d <= 0:
        return False
    err = float((g / d - torch.eye(g.shape[0], dtype=g.dtype)).norm()) / math.sqrt(g.shape[0])
    return err < _ORTHO_TOL


def _isometry(topo: Topo, weights: list[Node], fns: tuple[str, ...]) -> tuple[bool, bool]:
    """(isometric, checked): cheap tests first, and the first non-orthogonal weight settles it."""
    if not set(fns) <= ISOMETRIC_FNS or len(weights) < ISOMETRY_MIN_DEPTH:
        return False, True
    stats = topo.graph.facts.get("init_stats") or {}
    step = max(len(weights) // ISOMETRY_SAMPLES, 1)  # inits come in loops: a spread sample decides
    for w in weights[::step]:
        t = topo.graph.param(w, "weight") if w.op in (Op.LINEAR, Op.CONV) else None
        ok = None if t is None else _orthogonal(t)
        if ok is None and t is not None:  # on meta: what the init recorder saw
            rec = stats.get(w.params.get("weight", ""))
            ok = True if getattr(rec, "kind", "") == "orthogonal" else None
        if ok is None:
            return False, False
        if not ok:
            return False, True
    return True, True


def plain_chains(topo: Topo) -> tuple[list[PlainChain], int, int | None, int | None]:
    """(chains deepest first, max depth, shortest and longest input -> output path in weight ops)."""
    s_in, pred = shortest_in(topo)
    l_in, _ = shortest_in(topo, longest=True)
    s_out, succ = shortest_out(topo)
    out = topo.graph.output
    shortest = int(s_in[out]) if out is not None and out in s_in else None
    longest = int(l_in[out]) if out is not None and out in l_in else None
    through = {n: int(s_in[n] + s_out[n]) for n in topo.graph.nodes
               if topo.w[n] and n in s_in and n in s_out and not _gating(topo, n, succ)}
    max_depth = max(through.values(), default=0)
    chains: list[PlainChain] = []
    covered: set[Node] = set()
    for w in sorted(through, key=lambda n: (-through[n], topo.index[n])):
        if through[w] < MIN_CHAIN or len(chains) >= MAX_CHAINS:
            break
        if w in covered:
            continue
        path = _path(w, pred, succ)
        weights = [n for n in path if topo.w[n]]
        covered.update(weights)
        fns = tuple(str(n.attrs.get("fn", n.target)) for n in path if n.op is Op.ACTIVATION)
        iso, checked = _isometry(topo, weights, fns)
        chains.append(PlainChain(
            weight_ops=tuple(n.name for n in weights), depth=through[w], activations=fns,
            norms=sum(1 for n in path if n.op is Op.NORM), isometric=iso, isometry_checked=checked,
        ))
    return chains, max_depth, shortest, longest


def _gating(topo: Topo, w: Node, succ: dict[Node, Node]) -> bool:
    """``w`` only computes a gate (squeeze-excitation's convs, a GLU's gate projection): its shortest
    way to the output runs through an activation that multiplies the main path. A gate scales the
    signal that bypasses it; it is not a second path of weight ops in sequence with it."""
    n = w
    while n in succ:
        n = succ[n]
        if n.op in (Op.ADD, Op.SUB, Op.MUL, Op.CONCAT, Op.OUTPUT):
            return False  # reached a join or a product before any gate: w is on the main path
        if n.op is Op.ACTIVATION and str(n.attrs.get("fn", "")) in SATURATING | {"hardsigmoid"} and is_gate(topo, n):
            return True
    return False


def _ancestor(topo: Topo, src: Node, dst: Node) -> bool:
    lo, stack, seen = topo.index[src], [dst], {dst}
    while stack:
        n = stack.pop()
        if n is src:
            return True
        for i in n.inputs:
            if i not in seen and topo.index[i] >= lo:
                seen.add(i)
                stack.append(i)
    return False


def is_gate(topo: Topo, act: Node) -> bool:
    """The activation's output multiplies another activation (LSTM-style, GLU, SE, x*tanh(...)).

    In ``x * sigmoid(f(x))`` the gate is the sigmoid; ``x`` (an ancestor of the other factor) is not.
    """
    frontier, seen = [act], set()
    for _ in range(4):
        nxt = []
        for n in frontier:
            for u in topo.live_users(n):
                if u in seen:
                    continue
                seen.add(u)
                live = topo.live_inputs(u)
                if u.op is Op.MUL and len(live) >= 2:
                    others = [i for i in live if i is not n]
                    if not all(_ancestor(topo, act, o) for o in others):
                        return True
                    continue
                if u.op in PASSTHROUGH + (Op.ADD, Op.SUB, Op.MUL, Op.DIV) and len(live) == 1:
                    nxt.append(u)
        frontier = nxt
    return False


def _saturating(n: Node) -> bool:
    return n.op is Op.ACTIVATION and str(n.attrs.get("fn", "")) in SATURATING


def _previous(topo: Topo, act: Node, sat: set[Node]) -> tuple[Node | None, list[Node], Node]:
    """(previous saturating activation in sequence or None, weight ops between, chain entry node)."""
    weights: list[Node] = []
    ins = topo.live_inputs(act)
    entry = ins[0] if ins else act
    n = entry
    for _ in range(32):
        if n in sat:
            return n, weights, entry
        ins = topo.live_inputs(n)
        if n.op not in _CHAIN_THROUGH or len(ins) != 1 or (n.op is Op.MUL and scalar_factor(topo, n) is None
                                                           and not any(i.op is Op.PARAM for i in n.inputs)):
            break
        if topo.w[n]:
            weights.append(n)
            entry = ins[0]
        n = ins[0]
    return None, weights, entry


def saturating_chains(topo: Topo) -> list[SaturatingChain]:
    sat = {n for n in topo.graph.nodes if n in topo.live and _saturating(n) and not is_gate(topo, n)}
    prev: dict[Node, Node] = {}
    info: dict[Node, tuple[list[Node], Node]] = {}
    for a in sat:
        p, weights, entry = _previous(topo, a, sat)
        info[a] = (weights, entry)
        if p is not None:
            prev[a] = p
    has_next = set(prev.values())
    chains = []
    for last in sorted(sat - has_next, key=topo.index.__getitem__):
        seq = [last]
        while seq[-1] in prev:
            seq.append(prev[seq[-1]])
        seq.reverse()
        weights = [w for a in seq for w in reversed(info[a][0])]
        chains.append(SaturatingChain(
            activations=tuple(a.name for a in seq), fns=tuple(str(a.attrs.get("fn")) for a in seq),
            weight_ops=tuple(w.name for w in weights), start=info[seq[0]][1].name, end=last.name,
        ))
    return sorted(chains, key=lambda c: -len(c.activations))
