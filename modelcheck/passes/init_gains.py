"""The init_gains pass (MC201): each skip-free, norm-free segment of weight ops and the gain its init
scale gives, stored as :class:`~modelcheck.passes.facts.InitSegment` records in ``graph.facts["init_gains"]``.
A segment is a maximal run of Linear/Conv ops where each one's output reaches the next through
transparent single-consumer ops only (activations, reshapes, pooling, dropout, constant scalars). A
norm, a join (add, concat, gate), attention, or a fan-out ends it. Within a segment each layer ``W_l``
with the nonlinearity ``φ_l`` after it multiplies the input-carrying signal by
``f_l = σ_l / g(φ_l, q_l)`` forward and ``√χ_l = σ_l·√E[φ_l′²]`` backward (norm form), where
``σ_l² = E[W²]·fan_in`` and ``q_l`` is the predicted pre-activation second moment (THEORY §3.1, §4.3).
"""

from __future__ import annotations

import math

from modelcheck.ir import Graph, Node, Op
from modelcheck.numerics import gains as initmath
from modelcheck.passes import PassContext, register
from modelcheck.passes.facts import INIT_GAINS, InitLayer, InitSegment, ParamInfo, param_info
from modelcheck.passes.walks import (
    Step,
    act_of,
    branch_tails,
    feeds,
    is_gate,
    is_join,
    is_weight_op,
    reaches_output,
    signal,
    walk,
)


def weight_fans(graph: Graph, node: Node, view: ParamInfo) -> initmath.Fans | None:
    shape = view.shape
    if len(shape) < 2:
        return None
    a = node.attrs
    if a.get("weight_layout") == "in_out":
        shape = (shape[1], shape[0]) + tuple(shape[2:])
    return initmath.fans(shape, transposed=bool(a.get("transposed")), groups=int(a.get("groups", 1) or 1),
                         stride=a.get("stride"))


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


def _layer(graph: Graph, node: Node, step: Step) -> InitLayer | None:
    view = param_info(graph, node.params.get("weight"))
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
    sigma = math.sqrt(sigma2)
    return InitLayer(node, fn, dict(attrs), view, fans.forward, sigma, q, fwd, bwd, bwd_ideal,
                     initmath.ideal_std(fn, fans.forward, attrs), sigma / initmath.ideal_gain(fn, attrs),
                     initmath.is_homogeneous(fn))


def segments(graph: Graph) -> list[InitSegment]:
    """Every segment with at least one judged layer. Segments holding a zero or constant weight are
    left to MC202; a branch's last weight op and a gated op are left out (their scale is the residual
    scaling choice, R2); a head that shrinks the output is left out (ViT, policy heads)."""
    chains, steps = _chains(graph)
    tails = branch_tails(graph)
    tied = {n.params.get("weight") for n in graph.of(Op.EMBEDDING)}  # tied heads are MC203's
    out = []
    for chain in chains:
        views = [param_info(graph, n.params.get("weight")) for n in chain]
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
        out.append(InitSegment(tuple(layers), fwd, bwd, ideal, layers[0].node, layers[-1].node, head,
                               coherent_share(tuple(layers), fwd)))
    return out


def coherent_share(layers: tuple[InitLayer, ...], forward: float) -> float | None:
    """Share of the predicted second moment at the last layer's pre-activation that still carries the
    segment's input (the rest is the bias floor); None without signal predictions."""
    start, last = layers[0], layers[-1]
    start_in = start.node.inputs[0] if start.node.inputs else None
    s_in, s_out = signal(start_in), signal(last.node)
    if s_in is None or s_out is None or s_out.q <= 0 or last.fwd <= 0:
        return None
    coherent = s_in.q * (forward / last.fwd * last.sigma) ** 2
    return min(coherent / s_out.q, 1.0)


@register(INIT_GAINS, requires=("init_stats", "structure", "signal"))
def run(graph: Graph, ctx: PassContext) -> None:
    graph.facts[INIT_GAINS] = tuple(segments(graph))
