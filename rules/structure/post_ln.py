"""# post-ln-transformer (MC104)

## What it does
Finds Transformer stacks in the post-LN layout, `x = LayerNorm(x + sublayer(x))`, and counts their
layers per stack (an encoder and a decoder are counted apart). 13-24 layers are reported as info
(train with learning-rate warmup); 25 or more layers, or a predicted token correlation above 0.99 at
the top of the stack, are a warning. Stacks in the DeepNorm/Admin form (the skip scaled by a
constant α > 1 before the norm) are left alone.

## Why is this bad?
In a post-LN Transformer the gradient of the last layers' weights does not shrink with depth, so
without warmup the first Adam steps are too large (Xiong et al. 2020); the dependence on the
residual branches amplifies every update (Liu et al. 2020). The LayerNorm after each addition also
keeps shrinking the skip's share, so the input-side gradient fades and token representations
collapse towards each other with depth (at 48 layers the predicted token correlation is 0.996).
Pre-LN puts the norm inside the branch and keeps an identity path from every layer to the output.

## Example
```python
layers = nn.ModuleList(
    nn.TransformerEncoderLayer(512, 8, batch_first=True, norm_first=False) for _ in range(48)
)
```

## Use instead
```python
layers = nn.ModuleList(
    nn.TransformerEncoderLayer(512, 8, batch_first=True, norm_first=True) for _ in range(48)
)
final_norm = nn.LayerNorm(512)  # pre-LN stacks end with a norm
# or keep post-LN with a learning-rate warmup, or DeepNorm: LayerNorm(alpha * x + f(x)), alpha = (2N)^(1/4)
```

## References
- Xiong et al., "On Layer Normalization in the Transformer Architecture", ICML 2020.
- Liu et al., "Understanding the Difficulty of Training Transformers", EMNLP 2020.
- Wang et al., "DeepNet: Scaling Transformers to 1,000 Layers", 2022.
- Dong, Cordonnier, Loukas, "Attention is Not All You Need: Pure Attention Loses Rank Doubly Exponentially with Depth", ICML 2021.
- Noci et al., "Signal Propagation in Transformers: Theoretical Perspectives and the Role of Rank Collapse", NeurIPS 2022.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from modelcheck.diagnostics import Severity
from modelcheck.ir import Graph
from modelcheck.rule import Violation, rule
from modelcheck_rules.structure._common import join, signal, summary

INFO_BLOCKS = 13
WARN_BLOCKS = 25
WARN_CORR = 0.99
FIX = ("use pre-LN (norm_first=True, plus a final LayerNorm), or keep post-LN with learning-rate warmup "
       "(e.g. 4k-10k steps), or DeepNorm's LayerNorm(alpha * x + f(x)) with alpha = (2N)^(1/4)")


def check(graph: Graph, options: Mapping[str, Any]) -> Iterator[Violation]:
    s = summary(graph)
    if s is None:
        return
    info_at = int(options.get("info-blocks", INFO_BLOCKS))
    warn_at = int(options.get("warn-blocks", WARN_BLOCKS))
    for stack in s.stacks:
        if not stack.post_ln or not stack.attention_joins or stack.deepnorm:
            continue
        last = join(graph, stack.post_norm_joins[-1])
        top = signal(graph.node(last.post_norm)) if last.post_norm else None
        corr = top.corr if top is not None and top.q > 0 else None
        blocks = stack.blocks
        if blocks >= warn_at or (corr is not None and corr > WARN_CORR):
            severity = Severity.WARNING
        elif blocks >= info_at:
            severity = Severity.INFO
        else:
            continue
        first = join(graph, stack.post_norm_joins[0])
        norm = graph.node(first.post_norm) if first.post_norm else graph.node(stack.post_norm_joins[0])
        numbers = {"blocks": float(blocks)}
        corr_text = ""
        if corr is not None:
            numbers["top_correlation"] = corr
            corr_text = f"; predicted token correlation at the top {corr:.2g}"
        need = ("needs learning-rate warmup" if severity is Severity.INFO
                else "lower layers get little gradient and training diverges without long warmup")
        yield Violation(
            f"post-LN Transformer stack of {blocks} layers (LayerNorm after each residual add, from "
            f"{norm.label}): {need}{corr_text}",
            node=norm, severity=None if severity is Severity.WARNING else severity, fix=FIX, numbers=numbers,
        )


RULE = rule(
    code="MC104", name="post-ln-transformer", severity="warning", requires=("structure", "signal"),
    options={"info-blocks": int(INFO_BLOCKS), "warn-blocks": int(WARN_BLOCKS)},
)(check)
