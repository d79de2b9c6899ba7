"""Attention score sites: ``softmax(scale * q k^T + mask)`` written out, SDPA, or MultiheadAttention.

For each site the constant scale is split into the part applied to q or k before the score matmul
(already inside their predicted second moments) and the part applied to the scores after it.
"""

from __future__ import annotations

import math

from modelcheck.ir import Node, Op
from modelcheck.passes.facts import ScoreSite
from modelcheck.passes.structure.graph import PASSTHROUGH, Topo, scalar_factor

_SCORE_THROUGH = PASSTHROUGH + (Op.ADD, Op.SUB, Op.OTHER)  # masks, biases, masked_fill, where
_MAX_STEPS = 12


def _score_matmul(topo: Topo, node: Node, steps: int = 0) -> tuple[Node, float] | None:
    """Walk back from a softmax input to the q k^T matmul; returns it with the post-matmul scale."""
    if steps > _MAX_STEPS:
        return None
    if node.op is Op.MATMUL and not topo.w[node] and len(topo.live_inputs(node)) == 2:
        return node, 1.0
    sf = scalar_factor(topo, node)
    if sf is not None:
        found = _score_matmul(topo, sf[0], steps + 1)
        return None if found is None else (found[0], found[1] * sf[1])
    if node.op in _SCORE_THROUGH:
        for i in topo.live_inputs(node):
            found = _score_matmul(topo, i, steps + 1)
            if found is not None:
                return found
    return None


def _operand(topo: Topo, node: Node) -> tuple[float, Node | None]:
    """Constant scale on a q/k operand's path back to its projection, and that projection."""
    scale = 1.0
    for _ in range(_MAX_STEPS):
        sf = scalar_factor(topo, node)
        if sf is not None:
            scale *= sf[1]
            node = sf[0]
            continue
        if topo.w[node]:
            return scale, node if node.op in (Op.LINEAR, Op.OTHER, Op.MATMUL) else None
        ins = topo.live_inputs(node)
        if node.op not in PASSTHROUGH + (Op.SPLIT,) or not ins:
            break
        node = ins[0]
    return scale, None


def _d_k(node: Node | None) -> int | None:
    if node is None or node.meta is None or not node.meta.shape:
        return None
    return int(node.meta.shape[-1])


def score_sites(topo: Topo) -> list[ScoreSite]:
    sites: list[ScoreSite] = []
    seen: set[Node] = set()
    for n in topo.graph.nodes:
        if n not in topo.live:
            continue
        if n.op is Op.SOFTMAX and not n.attrs.get("log"):
            ins = topo.live_inputs(n)
            found = _score_matmul(topo, ins[0]) if ins else None
            if found is None or found[0] in seen:
                continue
            mm, post = found
            seen.add(mm)
            q, k = topo.live_inputs(mm)
            q_scale, q_proj = _operand(topo, q)
            k_scale, k_proj = _operand(topo, k)
            pre = q_scale * k_scale
            sites.append(ScoreSite(
                node=mm.name, kind="matmul", softmax=n.name, query=q.name, key=k.name, d_k=_d_k(q),
                pre_scale=pre, post_scale=post, explicit=abs(pre * post - 1.0) > 1e-6,
                query_proj=q_proj.name if q_proj else None, key_proj=k_proj.name if k_proj else None,
            ))
        elif n.op is Op.ATTENTION:
            ins = topo.live_inputs(n)
            if n.module_type == "MultiheadAttention" or len(ins) < 2:
                heads = n.attrs.get("num_heads")
                e = _d_k(ins[0]) if ins else None
                d_k = e // heads if e and isinstance(heads, int) and heads > 0 else None
                sites.append(ScoreSite(
                    node=n.name, kind="mha", softmax=None, query=ins[0].name if ins else None,
                    key=ins[1].name if len(ins) > 1 else None, d_k=d_k, pre_scale=1.0,
                    post_scale=1.0 / math.sqrt(d_k) if d_k else math.nan, explicit=True,
                    query_proj=None, key_proj=None,
                ))
                continue
            q, k = n.inputs[0], n.inputs[1]
            d_k = _d_k(q)
            scale = n.attrs.get("scale")
            post = float(scale) if isinstance(scale, (int, float)) else (1.0 / math.sqrt(d_k) if d_k else math.nan)
            q_scale, q_proj = _operand(topo, q)
            k_scale, k_proj = _operand(topo, k)
            pre = q_scale * k_scale
            sites.append(ScoreSite(
                node=n.name, kind="sdpa", softmax=None, query=q.name, key=k.name, d_k=d_k,
                pre_scale=pre, post_scale=post,
                explicit=not (isinstance(scale, (int, float)) and abs(pre * float(scale) - 1.0) <= 1e-6),
                query_proj=q_proj.name if q_proj else None, key_proj=k_proj.name if k_proj else None,
            ))
    return sites
