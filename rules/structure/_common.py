"""Helpers shared by the structural rules (MC101-MC105, MC205): facts lookup and number formatting."""

from __future__ import annotations

import math

from modelcheck.ir import Graph, Node
from modelcheck.passes.facts import (
    SIGNAL,
    STRUCTURE,
    ResidualJoin,
    SignalState,
    StructureSummary,
)

NO_SIGNAL = "signal predictions unavailable, structural verdict only"


def summary(graph: Graph) -> StructureSummary | None:
    s = graph.facts.get(STRUCTURE)
    return s if isinstance(s, StructureSummary) else None


def join(graph: Graph, name: str) -> ResidualJoin:
    return graph.node(name).facts[STRUCTURE]


def signal(node: Node | None) -> SignalState | None:
    if node is None:
        return None
    s = node.facts.get(SIGNAL)
    if not isinstance(s, SignalState) or not all(math.isfinite(v) for v in (s.q, s.r, s.g)):
        return None
    return s


def width(node: Node) -> int:
    """Elements per sample (norm-form gradients compare ``g * width`` across layers of any shape)."""
    if node.meta is None or not node.meta.shape:
        return 1
    return max(node.meta.numel // max(int(node.meta.shape[0]), 1), 1)


def fmt(v: float) -> str:
    if v == 0 or not math.isfinite(v):
        return str(v)
    return f"{v:.2g}" if 1e-2 <= abs(v) < 1e4 else f"{v:.1e}"


def span(graph: Graph, names: tuple[str, ...] | list[str]) -> str:
    """``first … last`` by module path (or node name)."""
    if not names:
        return ""
    first, last = graph.node(names[0]).label, graph.node(names[-1]).label
    return first if first == last else f"{first} … {last}"


def block_module(graph: Graph, j: ResidualJoin, join_node: Node) -> str:
    """The module that owns a residual block: where the add happens, else the branch's parent module."""
    if join_node.module_path:
        return join_node.module_path
    for name in j.last_weight_ops or j.branch_weight_ops:
        path = graph.node(name).module_path
        if path:
            return path.rpartition(".")[0] or path
    return join_node.label
