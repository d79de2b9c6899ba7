"""Signal propagation at initialization (THEORY §3): predicted second moments of activations and
back-propagated gradients at every node, and the SPEC §2 gains, without running the model on data.

One forward sweep in topological order computes ``(q, r)`` per node from the per-op rules in
``signal_ops`` / ``signal_mixing``; one backward sweep seeds ``g = 1`` at the output ``y`` (the
``u ~ N(0, 1)`` of SPEC §2) and accumulates ``g`` over users. Ops no rule covers pass their input
through, or — for opaque leaf modules such as LSTMs — are simulated locally on Gaussian inputs of the
predicted scale when their weights exist (``signal_local``).
"""

from __future__ import annotations

import math

from modelcheck.ir import Graph, Node, Op
from modelcheck.passes import PassContext, register
from modelcheck.passes.facts import SIGNAL, SignalState, SignalSummary
from modelcheck.passes.signal import attention as _attention  # noqa: F401  (registers its rules)
from modelcheck.passes.signal import functional
from modelcheck.passes.signal import mixing as _mixing  # noqa: F401  (registers its rules)
from modelcheck.passes.signal.local import simulate
from modelcheck.passes.signal.ops import BACKWARD, BACKWARD_R, FORWARD, param_moments

_MAX = 1e300  # keep exploding predictions finite (they are reported in log space)


def _input_state(node: Node, ctx: PassContext, index: int) -> tuple[float, float] | None:
    if node.meta is not None and not node.meta.is_float:
        return None  # integer ids: x is the first embedding's output
    x = None
    if ctx.inputs is not None and index < len(ctx.inputs):
        x = ctx.inputs[index]
    if x is None or not hasattr(x, "is_floating_point") or x.is_meta or not x.is_floating_point():
        return (1.0, 0.0)  # meta or no inputs: a unit-variance, uncorrelated input
    x = x.detach().double()
    q = float((x * x).mean())
    if x.dim() == 0 or x.shape[0] < 2:
        return q, 0.0
    flat = x.reshape(x.shape[0], -1)
    s = flat.sum(0)
    b = flat.shape[0]
    r = float(((s * s).sum() - (flat * flat).sum()) / (b * (b - 1) * flat.shape[1]))
    return q, r


def _forward_state(graph: Graph, node: Node, ins: list[SignalState | None], ctx: PassContext,
                   input_index: dict[str, int]) -> tuple[float, float] | None:
    if node.op is Op.INPUT:
        return _input_state(node, ctx, input_index[node.name])
    if node.op is Op.PARAM:
        m = param_moments(graph, node.params.get("value"))
        return None if m is None else (m[0], m[1] ** 2)
    if node.op is Op.CONST:
        return None
    rule = FORWARD.get(_as_op(node))
    if rule is not None:
        return rule(graph, node, ins)
    if node.op is Op.OTHER:  # normalisation written with functions, exp, ...
        st = functional.forward(graph, node, ins)
        if st is not None:
            return st
    local = simulate(graph, node, ins, ctx)
    if local is not None:
        node.facts["signal_local"] = local
        return local.q, local.r
    first = next((s for s in ins if s is not None), None)
    return None if first is None else (first.q, first.r)


def _as_op(node: Node) -> Op:
    """Linear layers the IR keeps as OTHER (HF's Conv1D: an addmm with an (in, out) weight)."""
    if node.op is Op.OTHER and "weight" in node.params and "in_features" in node.attrs:
        return Op.LINEAR
    return node.op


def _clip(v: float) -> float:
    if math.isnan(v):
        return _MAX
    return min(max(v, 0.0), _MAX)


def _x_node(graph: Graph) -> Node | None:
    """SPEC §2's x: the float input, else the output of the first embedding lookup."""
    for n in graph.inputs:
        if n.meta is None or n.meta.is_float:
            return n
    embs = graph.of(Op.EMBEDDING)
    return embs[0] if embs else None


def _y_node(graph: Graph) -> Node | None:
    out = graph.output
    if out is None or not out.inputs:
        return None
    return next((i for i in out.inputs if i.meta is None or i.meta.is_float), out.inputs[0])


@register("signal", requires=("init_stats", "zero_init"))
def run(graph: Graph, ctx: PassContext) -> None:
    input_index = {n.name: i for i, n in enumerate(graph.inputs)}
    fwd: dict[Node, tuple[float, float]] = {}
    for node in graph.nodes:
        ins = [SignalState(*fwd[i], 0.0) if i in fwd else None for i in node.inputs]
        st = _forward_state(graph, node, ins, ctx, input_index)
        if st is not None:
            fwd[node] = (_clip(st[0]), min(_clip(st[1]), _clip(st[0])))

    y = _y_node(graph)
    grads: dict[Node, float] = {n: 0.0 for n in graph.nodes}
    grads_r: dict[Node, float] = {n: 0.0 for n in graph.nodes}
    if y is not None:
        grads[y] = 1.0  # u ~ N(0, 1), independent across positions
    for node in reversed(graph.nodes):
        if node not in fwd:
            continue
        g = grads[node]
        if g == 0.0 or not node.inputs or node.op is Op.OUTPUT:
            continue
        ins = [SignalState(*fwd[i], 0.0) if i in fwd else None for i in node.inputs]
        out = SignalState(*fwd[node], g, min(grads_r[node], g))
        local = node.facts.get("signal_local")
        rule = BACKWARD.get(_as_op(node))
        known = functional.backward(graph, node, ins, out, g) if node.op is Op.OTHER and local is None else None
        if local is not None:
            contrib = [g * local.grad_ratio if s is not None else 0.0 for s in ins]
        elif known is not None:
            contrib = known
        elif rule is not None:
            contrib = rule(graph, node, ins, out, g)
        else:
            contrib = [g if s is not None else 0.0 for s in ins]
        r_rule = BACKWARD_R.get(node.op)
        contrib_r = (r_rule(graph, node, ins, out, contrib) if r_rule is not None and local is None
                     else [c * out.gr / g for c in contrib])
        for i, c, cr in zip(node.inputs, contrib, contrib_r):
            if i in fwd:
                grads[i] = _clip(grads[i] + c)
                grads_r[i] = _clip(grads_r[i] + cr)

    for node, (q, r) in fwd.items():
        node.facts[SIGNAL] = SignalState(q, r, grads[node], min(grads_r[node], grads[node]))

    x = _x_node(graph)
    fg = bg = None
    notes: list[str] = []
    sx, sy = (x.facts.get(SIGNAL) if x else None), (y.facts.get(SIGNAL) if y else None)
    if sx is not None and sy is not None and sx.q > 0:
        fg = math.sqrt(sy.q / sx.q)
        bg = math.sqrt(sx.g)
    else:
        notes.append("signal: could not relate the output to the input (no float input or embedding)")
    graph.facts[SIGNAL] = SignalSummary(fg, bg, x.name if x else None, y.name if y else None, tuple(notes))
