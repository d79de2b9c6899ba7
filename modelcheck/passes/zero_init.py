"""The ``zero_init`` pass: deliberately zero-initialised layers, and the gains "as if" they were not.

A zero-initialised output head (DiT's final layer, guided diffusion's ``zero_module`` output conv, a
classifier head), the zero last layer of a residual branch (Fixup, ``zero_module``, zero-init residual
BN γ) and a zero gate (adaLN-Zero, LayerScale 0, ReZero α) are designs: the zero's own gradient is
nonzero, so they train. A head makes both SPEC §2 gains exactly 0, which says nothing about the rest of
the network; so the signal pass predicts the gains with zero-initialised *heads* taken at PyTorch's
default init for their module, and the report says so. Branch tails and gates keep their zeros: the
network around them carries the signal, and the gains with them are the true ones.

A zero weight anywhere else (on the main path of a plain net) is not recognised here and stays what
it is: a zero gain, reported as an error.

``graph.facts[ZERO_INIT] = ZeroInitFact(...)``.
"""

from __future__ import annotations

from modelcheck.ir import Graph, Node, Op
from modelcheck.passes import PassContext, register
from modelcheck.passes.facts import INIT_STATS, ZERO_INIT, ParamStats, ZeroInitFact, ZeroInitLayer
from modelcheck.passes.init_stats import default_record, from_record
from modelcheck.passes.walks import WEIGHT_OPS, norm_scales_by_weight

# Ops a zero passes through unchanged in kind (still zero, or a fixed function of zero).
_PASS = (Op.RESHAPE, Op.SPLIT, Op.IDENTITY, Op.DROPOUT, Op.POOL, Op.REDUCE, Op.UPSAMPLE, Op.PAD)


def _zero(graph: Graph, name: str | None) -> bool:
    stats: ParamStats | None = graph.facts.get(INIT_STATS, {}).get(name) if name else None
    return stats is not None and stats.is_zero


def _member(graph: Graph, node: Node) -> str | None:
    """The zero parameter that makes ``node``'s output zero (or a zero gate), if any."""
    if node.op in WEIGHT_OPS or norm_scales_by_weight(node):
        name = node.params.get("weight")
        return name if _zero(graph, name) and graph.parameters.get(name) is not None else None
    if node.op is Op.PARAM:
        name = node.params.get("value")
        t = graph.parameters.get(name) if name else None
        return name if t is not None and _zero(graph, name) else None
    return None


def _scalar(node: Node) -> bool:
    return isinstance(node.attrs.get("scalar"), (int, float)) and len(node.inputs) == 1


def _role(node: Node) -> str | None:
    """Where the zero ends up: "head", "residual branch", "gate", or None (the main path)."""
    seen: set[str] = set()
    frontier, roles = [node], []
    while frontier:
        cur = frontier.pop()
        if not cur.users:
            return None
        for u in cur.users:
            if u.name in seen:
                continue
            seen.add(u.name)
            if u.op in (Op.ADD, Op.SUB) and _scalar(u) and u.attrs["scalar"] != 0:
                continue  # c + zero is no zero (Gemma's 1 + w, adaLN's 1 + scale): nothing gated here
            if u.op in _PASS or (u.op in (Op.MUL, Op.DIV, Op.ADD, Op.SUB) and _scalar(u)):
                frontier.append(u)
            elif u.op is Op.OUTPUT:
                roles.append("head")
            elif u.op in (Op.ADD, Op.SUB, Op.CONCAT):
                roles.append("residual branch")
            elif u.op is Op.MUL:
                roles.append("gate")
            else:
                return None
    for role in ("gate", "residual branch", "head"):  # a modulation that also shifts is a gate
        if role in roles:
            return role
    return None


@register(ZERO_INIT, requires=(INIT_STATS,))
def run(graph: Graph, ctx: PassContext) -> None:
    layers: list[ZeroInitLayer] = []
    as_if: dict[str, ParamStats] = {}
    for node in graph.nodes:
        param = _member(graph, node)
        if param is None:
            continue
        role = _role(node)
        # A zero parameter used as a tensor is a design only as a gate (LayerScale, ReZero α; a zero
        # cls token or position table is just a start value), and a zero norm γ only ends a branch.
        if role is None or (node.op is Op.PARAM and role != "gate") or (node.op is Op.NORM and role != "residual branch"):
            continue
        label = param if node.op is Op.PARAM else node.label  # a LayerScale's owner holds two
        layers.append(ZeroInitLayer(node.name, label, role, as_if=role == "head" and node.op in WEIGHT_OPS))
        if role != "head" or node.op not in WEIGHT_OPS:
            continue
        for slot in ("weight", "bias"):
            name = node.params.get(slot)
            t = graph.parameters.get(name) if name else None
            if t is None or not _zero(graph, name):
                continue
            record = default_record(name, tuple(int(s) for s in t.shape), graph)
            if record is not None:
                as_if[name] = from_record(record, tuple(int(s) for s in t.shape), "default (as if not zero-initialised)")
    graph.facts[ZERO_INIT] = ZeroInitFact(tuple(layers), as_if)
