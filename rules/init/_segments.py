"""Unnormalised, skip-free segments of weight ops and each layer's init-attributable gain (MC201).

A segment is a maximal run of Linear/Conv ops where each one's output reaches the next through
transparent single-consumer ops only (activations, reshapes, pooling, dropout, constant scalars). A
norm, a join (add, concat, gate), attention, or a fan-out ends it. Within a segment each layer ``W_l``
with the nonlinearity ``φ_l`` after it multiplies the input-carrying signal by
``f_l = σ_l / g(φ_l, q_l)`` forward and ``√χ_l = σ_l·√E[φ_l′²]`` backward (norm form), where
``σ_l² = E[W²]·fan_in`` and ``q_l`` is the predicted pre-activation second moment (THEORY §3.1, §4.3).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from modelcheck.ir import Graph, Node, Op
from modelcheck.numerics import gains as initmath
from modelcheck_rules.init._common import (
    PView,
    Step,
    act_of,
    branch_tails,
    feeds,
    is_gate,
    is_join,
    is_weight_op,
    pview,
    reaches_output,
    signal,
    walk,
    weight_fans,
)


class Layer(NamedTuple):
    node: Node
    fn: str | None
    attrs: dict[str, object]
    view: PView
    fan: float  # forward fan
    sigma: float  # √(E[W²]·fan), constant scalars on the path included
    q: float | None  # pre-activation second moment (None: unknown)
    fwd: float  # f_l
    bwd: float  # √χ_l
    bwd_ideal: float  # √χ_l at the ideal gain

    @property
    def ideal_std(self) -> float:
        """The variance-preserving std at unit scale, THEORY §4.2's gain over √fan_in."""
        return initmath.ideal_std(self.fn, self.fan, self.attrs)

    @property
    def ratio(self) -> float:
        """THEORY §4.3's per-layer r_l = std(W)·√fan_in / g(φ_next)."""
        return self.sigma / initmath.ideal_gain(self.fn, self.attrs)


class Segment(NamedTuple):
    layers: tuple[Layer, ...]
    forward: float
    backward: float
    backward_ideal: float
    start: Node  # first weight op (its input is the segment input)
    end: Node  # last weight op kept
    head: bool  # ends at the model output

    @property
    def deviation(self) -> float:
        """Decades away from a unit gain, the worse direction."""
        return max(abs(math.log10(max(self.forward, 1e-300))), abs(math.log10(max(self.backward, 1e-300))))

    @property
    def attributable(self) -> float:
        """Decades the init scale itself accounts for: the variance-preserving init has forward gain 1
        and backward gain ``backward_ideal``."""
        ratio = self.backward / max(self.backward_ideal, 1e-300)
        return max(abs(math.log10(max(self.forward, 1e-300))), abs(math.log10(max(ratio, 1e-300))))


def _chains(graph: Graph) -> tuple[list[list[Node]], dict[Node, Step]]:
    ops = [n for n in graph.nodes if is_weight_op(n)]
    steps = {n: walk(n) for n in ops}
    nxt: dict[Node, Node] = {}
    for n, st in steps.items():
        t = st.terminal
        if t is not None and t in steps and feeds(st, n, t):
            nxt[n] = t
    targets = set(nxt.values())
    chains = []
    for n in ops:
        if n in targets:
            continue
        chain = [n]
        while chain[-1] in nxt:
            chain.append(nxt[chain[-1]])
        chains.append(chain)
    return chains, steps


def _pre_activation_q(node: Node, step: Step) -> float | None:
    src = step.act.inputs[0] if step.act is not None and step.act.inputs else node
    s = signal(src)
    return s.q if s is not None and s.q > 0 else None


def _layer(graph: Graph, node: Node, step: Step) -> Layer | None:
    view = pview(graph, node.params.get("weight"))
    if view is None:
        return None
    fans = weight_fans(graph, node, view)
    if fans is None:
        return None
    fn, attrs = act_of(step)
    if not initmath.is_known(fn, attrs):
        return None
    sigma2 = view.mean_sq * fans.forward * step.scale**2
    q = _pre_activation_q(node, step)
    if q is None and not initmath.is_homogeneous(fn):
        return None  # GELU/tanh/... gains depend on the scale the signal pass predicts
    qq = q or 1.0
    fwd, bwd = initmath.layer_gains(fn, sigma2, qq, attrs)
    g = initmath.ideal_gain(fn, attrs, qq)
    _, bwd_ideal = initmath.layer_gains(fn, g * g, qq, attrs)
    return Layer(node, fn, dict(attrs), view, fans.forward, math.sqrt(sigma2), q, fwd, bwd, bwd_ideal)


def segments(graph: Graph) -> list[Segment]:
    """Every segment with at least one judged layer. Segments holding a zero or constant weight are
    left to MC202; a branch's last weight op and a gated op are left out (their scale is the residual
    scaling choice, R2); a head that shrinks the output is left out (ViT, policy heads)."""
    chains, steps = _chains(graph)
    tails = branch_tails(graph)
    tied = {n.params.get("weight") for n in graph.of(Op.EMBEDDING)}  # tied heads are MC203's
    out = []
    for chain in chains:
        views = [pview(graph, n.params.get("weight")) for n in chain]
        if any(v is not None and v.degenerate for v in views):
            continue
        last = chain[-1]
        term = steps[last].terminal
        if (term is not None and (term.op is Op.NORM or is_join(term) or is_gate(term)) or last.name in tails
                or last.params.get("weight") in tied):
            chain = chain[:-1]  # scale-invariant (norm), a residual/gate choice, or a tied head
        layers = []
        for n in chain:
            layer = _layer(graph, n, steps[n])
            if layer is None:
                layers = []
                break
            layers.append(layer)
        head = bool(layers) and layers[-1].node is last and reaches_output(steps[last])
        if head and layers[-1].fwd < 1.0:
            layers = layers[:-1]
        if not layers:
            continue
        fwd = math.prod(x.fwd for x in layers)
        bwd = math.prod(x.bwd for x in layers)
        ideal = math.prod(x.bwd_ideal for x in layers)
        out.append(Segment(tuple(layers), fwd, bwd, ideal, layers[0].node, layers[-1].node, head))
    return out


def coherent_share(seg: Segment) -> float | None:
    """Share of the predicted second moment at the last layer's pre-activation that still carries the
    segment's input (the rest is the bias floor); None without signal predictions."""
    start_in = seg.start.inputs[0] if seg.start.inputs else None
    s_in, s_out = signal(start_in), signal(seg.end)
    last = seg.layers[-1]
    if s_in is None or s_out is None or s_out.q <= 0 or last.fwd <= 0:
        return None
    coherent = s_in.q * (seg.forward / last.fwd * last.sigma) ** 2
    return min(coherent / s_out.q, 1.0)
