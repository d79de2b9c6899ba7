"""Shared helpers of the Lipschitz per-op functions: what they may read (:class:`Env`) and how they
find a node's parameters, attributes and init statistics."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from modelcheck.ir import Graph, Node
from modelcheck.numerics import spectral
from modelcheck.numerics.certifier import Certifier
from modelcheck.passes.facts import INIT_STATS, LipschitzFact, ParamStats


@dataclass
class Env:
    """What the per-op functions may read."""

    graph: Graph
    model: Any = None  # nn.Module when available (attribute fallbacks)
    row_var: dict[str, float] = field(default_factory=dict)  # norm module path -> min row v at x
    fused: dict[str, torch.Tensor] = field(default_factory=dict)  # weight-op node -> BN scale folded in
    fused_into: dict[str, str] = field(default_factory=dict)  # BN node -> weight-op node label
    notes: list[str] = field(default_factory=list)
    certifier: Certifier = field(default_factory=lambda: Certifier(spectral.max_bound))  # batches the σ bounds
    bounds: str = "fast"  # "fast" | "tight": how much the conv bounds may cost (spectral_conv.CONV_BUDGET)

    @property
    def stats(self) -> dict[str, ParamStats]:
        return self.graph.facts.get(INIT_STATS) or {}


def tensor(env: Env, node: Node, role: str) -> torch.Tensor | None:
    """A node's parameter/buffer by role, falling back to ``<module>.<role>`` and the live module."""
    t = env.graph.param(node, role)
    if t is None and node.module_path:
        name = f"{node.module_path}.{role}"
        t = env.graph.tensor(name)
    if t is None and env.model is not None and node.module_path:
        mod = submodule(env, node)
        got = getattr(mod, role, None) if mod is not None else None
        t = got if isinstance(got, torch.Tensor) else None
    return t


def submodule(env: Env, node: Node) -> Any:
    if env.model is None or not node.module_path:
        return None
    try:
        return env.model.get_submodule(node.module_path)
    except Exception:
        return None


def attr(env: Env, node: Node, *names: str, default: Any = None) -> Any:
    for n in names:
        if node.attrs.get(n) is not None:
            return node.attrs[n]
    mod = submodule(env, node)
    for n in names:
        if mod is not None and getattr(mod, n, None) is not None:
            return getattr(mod, n)
    return default


def has_data(t: torch.Tensor | None) -> bool:
    return t is not None and not t.is_meta and t.numel() > 0


def stats_of(env: Env, node: Node, role: str) -> ParamStats | None:
    name = node.params.get(role) or (f"{node.module_path}.{role}" if node.module_path else "")
    return env.stats.get(name) if name else None


def absmax(env: Env, node: Node, role: str, default: float = 1.0) -> tuple[float, bool]:
    """(max |param|, certified) — from the tensor, else the init statistics (estimate)."""
    t = tensor(env, node, role)
    if has_data(t):
        return float(t.detach().abs().max()), True  # type: ignore[union-attr]
    st = stats_of(env, node, role)
    if st is not None and math.isfinite(st.absmax):
        return st.absmax, st.is_constant
    return default, t is None


def fact(bound: float | None, method: str, *, local: bool = False, certified: bool = True,
         note: str = "") -> LipschitzFact:
    return LipschitzFact(bound, local, method, None, certified, note)


NONE_ATTN = "dot-product attention"


def node_tensor(env: Env, node: Node) -> torch.Tensor | None:
    for role in ("value", "weight", *node.params.keys()):
        t = env.graph.param(node, role)
        if t is not None:
            return t
    name = node.target
    return env.graph.tensor(name)
