"""The structure pass: residual joins, plain chains, residual stacks, attention score sites and
saturating-activation chains. It computes, never judges (rules MC101-MC105, MC205 do).

Results:
- ``node.facts["structure"]``: a :class:`~modelcheck.passes.facts.ResidualJoin` on every ADD/SUB that
  joins a skip and a branch;
- ``graph.facts["structure"]``: a :class:`~modelcheck.passes.facts.StructureSummary`.

Helpers live in ``structure_graph`` (weight ops, distances, constants, parameter statistics),
``structure_residual``, ``structure_chains`` and ``structure_attention``.
"""

from __future__ import annotations

from modelcheck.ir import Graph, Node, Op
from modelcheck.passes import PassContext, register
from modelcheck.passes.facts import STRUCTURE, ResidualJoin, StructureSummary
from modelcheck.passes.structure.attention import score_sites
from modelcheck.passes.structure.chains import plain_chains, saturating_chains
from modelcheck.passes.structure.graph import Topo
from modelcheck.passes.structure.residual import analyse

__all__ = ["analyse_structure", "join_of", "run"]


def analyse_structure(graph: Graph) -> StructureSummary:
    """Compute the structure facts of ``graph`` (stored on it) and return the summary."""
    topo = Topo(graph)
    joins, stacks = analyse(topo)
    for node, fact in joins.items():
        node.facts[STRUCTURE] = fact
    chains, max_depth, shortest, longest = plain_chains(topo)
    norms = graph.of(Op.NORM)
    trunk = max(range(len(stacks)), key=lambda i: len(stacks[i].joins), default=-1)
    summary = StructureSummary(
        weight_ops=sum(topo.w.values()),
        joins=tuple(n.name for n in joins),
        stacks=tuple(stacks),
        trunk=trunk,
        plain_chains=tuple(chains),
        max_plain_depth=max_depth,
        shortest_path=shortest,
        longest_path=longest,
        score_sites=tuple(score_sites(topo)),
        saturating_chains=tuple(saturating_chains(topo)),
        norms=tuple(n.name for n in norms),
        norm_kinds=tuple(sorted({str(n.attrs.get("kind", "")) for n in norms})),
    )
    graph.facts[STRUCTURE] = summary
    return summary


def join_of(node: Node) -> ResidualJoin | None:
    """The residual-join facts of a node, if the structure pass found one there."""
    fact = node.facts.get(STRUCTURE)
    return fact if isinstance(fact, ResidualJoin) else None


@register(STRUCTURE, requires=("init_stats",))
def run(graph: Graph, ctx: PassContext) -> None:
    analyse_structure(graph)
