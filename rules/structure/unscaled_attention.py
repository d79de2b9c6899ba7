"""# unscaled-attention (MC105)

## What it does
Finds attention score computations, `softmax(scale · q kᵀ)` written out or
`scaled_dot_product_attention`, and predicts the spread of the scores at initialization,
σ_S² ≈ scale²·d_k·q_q·q_k·(1 − ρ_q·ρ_k), from the predicted second moments q and token correlations
ρ of the queries and keys. σ_S > 4 is a warning. A score path with no constant scale at all (or SDPA
with `scale=1`) whose σ_S stays at most 4 is reported as info: the init compensates (T5 folds
1/√d_k into W_Q) but the scale will drift as the weights train. Without signal predictions σ_S is
estimated from the projection weights for unit-RMS inputs, and reported as info.

## Why is this bad?
The dot product of two d_k-dimensional vectors with unit entries has standard deviation √d_k (8 for
d_k = 64). Large score spreads push the softmax into saturation: at σ_S = 8 the largest attention
weight is 0.8 and the normalised entropy 0.14 for 64 tokens, the softmax Jacobian is nearly zero and
the query/key projections stop learning.

## Example
```python
scores = q @ k.transpose(-2, -1)          # missing 1/sqrt(d_k)
attn = scores.softmax(dim=-1)
```

## Use instead
```python
scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
attn = scores.softmax(dim=-1)
# or: F.scaled_dot_product_attention(q, k, v)  (default scale 1/sqrt(d_k))
```

## References
- Vaswani et al., "Attention Is All You Need", NeurIPS 2017 (§3.2.1).
- Raffel et al., "Exploring the Limits of Transfer Learning with a Unified Text-to-Text Transformer", JMLR 2020 (T5's folded scale).
- Noci et al., "Signal Propagation in Transformers: Theoretical Perspectives and the Role of Rank Collapse", NeurIPS 2022.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from modelcheck.diagnostics import Severity
from modelcheck.ir import Graph
from modelcheck.passes.facts import ScoreSite, fan_in, param_info
from modelcheck.rule import Violation, rule
from modelcheck_rules.structure._common import NO_SIGNAL, fmt, signal, summary

WARN_SIGMA = 4.0
FIX = ("divide the scores by sqrt(d_k) (scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)) or use "
       "F.scaled_dot_product_attention with its default scale")


def _predicted(graph: Graph, site: ScoreSite) -> float | None:
    if site.query is None or site.key is None or not site.d_k or not math.isfinite(site.post_scale):
        return None
    sq, sk = signal(graph.node(site.query)), signal(graph.node(site.key))
    if sq is None or sk is None:
        return None
    var = site.post_scale**2 * site.d_k * sq.q * sk.q * max(1.0 - sq.corr * sk.corr, 0.0)
    return math.sqrt(max(var, 0.0))


def _estimated(graph: Graph, site: ScoreSite) -> float | None:
    """σ_S for unit-RMS, uncorrelated projection inputs, from the W_Q and W_K init alone."""
    if site.query_proj is None or site.key_proj is None or not site.d_k or not math.isfinite(site.post_scale):
        return None
    gains = []
    for name in (site.query_proj, site.key_proj):
        node = graph.node(name)
        info, fi = param_info(graph, node.params.get("weight")), fan_in(graph, node)
        if info is None or not fi:
            return None
        gains.append(info.rms**2 * fi)
    return math.sqrt(site.post_scale**2 * site.pre_scale**2 * site.d_k * gains[0] * gains[1])


def check(graph: Graph, options: Mapping[str, Any]) -> Iterator[Violation]:
    s = summary(graph)
    if s is None:
        return
    warn = float(options.get("warn-sigma", WARN_SIGMA))
    judged = []
    for site in s.score_sites:
        if site.kind == "mha":
            continue  # nn.MultiheadAttention always applies 1/sqrt(head_dim)
        sigma, estimated = _predicted(graph, site), False
        if sigma is None:
            sigma, estimated = _estimated(graph, site), True
        judged.append((site, sigma, estimated))
    if not judged:
        return
    hot = [t for t in judged if t[1] is not None and t[1] > warn]
    unscaled = [t for t in judged if not t[0].explicit]
    if hot:
        site, sigma, estimated = max(hot, key=lambda t: t[1])
        severity = Severity.INFO if estimated else None
    elif unscaled:
        site, sigma, estimated = max(unscaled, key=lambda t: -1.0 if t[1] is None else t[1])
        severity = Severity.INFO
    else:
        return
    node = graph.node(site.node)
    module = node.module_path or (graph.node(site.query_proj).module_path if site.query_proj else "") or None
    label = module or node.label
    scale = "no constant scale" if not site.explicit else f"scale {fmt(site.pre_scale * site.post_scale)}"
    numbers: dict[str, float] = {"sites": float(len(hot or unscaled))}
    if site.d_k:
        numbers["d_k"] = float(site.d_k)
    if sigma is None:
        spread = f"; {NO_SIGNAL}"
    else:
        numbers["sigma_s"] = sigma
        how = "estimated for unit-RMS inputs, " + NO_SIGNAL if estimated else "predicted"
        spread = f"; score std σ_S = {sigma:.3g} ({how})"
    count = len(hot or unscaled)
    where = f"{count} of {len(judged)} attention score sites" if count > 1 else "attention scores"
    if hot:
        msg = (f"{where} saturate the softmax at initialization ({label}, {scale}, d_k = "
               f"{site.d_k}){spread}, above {warn:g}")
    else:
        msg = (f"{where} have {scale} before the softmax ({label}, d_k = {site.d_k}){spread}: "
               f"the init compensates now, but nothing keeps the scores scaled as q and k grow")
    yield Violation(msg, node=node, module=module, severity=severity, fix=FIX, numbers=numbers)


RULE = rule(
    code="MC105", name="unscaled-attention", severity="warning", requires=("structure", "signal"),
    options={"warn-sigma": float(WARN_SIGMA)},
)(check)
