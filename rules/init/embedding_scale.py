"""# embedding-scale (MC203)

## What it does
Finds an embedding whose weight is shared with the output projection (weight tying) and predicts the
initial logit scale `σ_E·√d·rms(h)`, where `σ_E` is the embedding's std, `d` its width and `h` the
final hidden state (rms 1 after a final norm). Above 3 it warns. The 0.02 convention of GPT-2, BERT,
ViT and Llama gives `0.02·√d ≈ 0.55` at d = 768 and is fine.

## Why is this bad?
`nn.Embedding` draws N(0, 1) entries. Tied to the head, every logit then has std `√d` (≈ 28 at
d = 768): the initial softmax is nearly one-hot on a random token, the first loss is far above
`ln V`, and the early gradients mostly undo the initial scale instead of learning. The input side is
usually fine (the first norm rescales it), so untied embeddings are not flagged.

## Example
```python
self.tok = nn.Embedding(vocab, 768)            # N(0, 1)
self.head = nn.Linear(768, vocab, bias=False)
self.head.weight = self.tok.weight             # logits ~ N(0, 768)
```

## Use instead
```python
nn.init.normal_(self.tok.weight, std=0.02)     # GPT-2 / BERT; or std = d**-0.5
# or keep N(0, 1) and scale the logits: logits = h @ self.tok.weight.T * d**-0.5
```

## References
- Press & Wolf, "Using the Output Embedding to Improve Language Models", EACL 2017.
- Radford et al., "Language Models are Unsupervised Multitask Learners" (GPT-2), 2019.
- Devlin et al., "BERT: Pre-training of Deep Bidirectional Transformers", NAACL 2019.
- Vaswani et al., "Attention Is All You Need", NeurIPS 2017 (embeddings multiplied by √d when tied).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

from modelcheck.ir import Graph, Node, Op
from modelcheck.passes.facts import param_info
from modelcheck.passes.walks import signal
from modelcheck.rule import Violation, rule
from modelcheck_rules.init._common import fmt

LOGIT_STD = 3.0
_PASS = (Op.RESHAPE, Op.IDENTITY)


def _same(graph: Graph, a: str, b: str) -> bool:
    if a == b:
        return True
    ta, tb = graph.parameters.get(a), graph.parameters.get(b)
    return ta is not None and ta is tb


def _param_name(node: Node) -> str | None:
    while node.op in _PASS and node.inputs:
        node = node.inputs[0]
    return node.params.get("value") if node.op is Op.PARAM else None


def _heads(graph: Graph, name: str) -> list[tuple[Node, Node | None]]:
    """(head node, its activation input) for every op that multiplies by the shared weight ``name``."""
    out: list[tuple[Node, Node | None]] = []
    for n in graph.nodes:
        if n.op is Op.LINEAR and n.params.get("weight") and _same(graph, n.params["weight"], name):
            out.append((n, n.inputs[0] if n.inputs else None))
        elif n.op is Op.MATMUL and len(n.inputs) == 2:
            p = _param_name(n.inputs[1])
            if p and _same(graph, p, name):
                out.append((n, n.inputs[0]))
    return out


def check(graph: Graph, options: Mapping[str, object]) -> Iterator[Violation]:
    limit = float(options.get("max-logit-std", LOGIT_STD))  # type: ignore[arg-type]
    seen: set[str] = set()
    for emb in graph.of(Op.EMBEDDING):
        name = emb.params.get("weight")
        if not name or name in seen:
            continue
        seen.add(name)
        v = param_info(graph, name)
        if v is None or len(v.shape) != 2:
            continue
        heads = _heads(graph, name)
        if not heads:
            continue
        head, h = heads[0]
        d = v.shape[1]
        s = signal(h)
        rms_h = math.sqrt(s.q) if s is not None else 1.0
        logit = v.rms * math.sqrt(d) * rms_h
        if logit <= limit:
            continue
        vocab = v.shape[0]
        yield Violation(
            f"{emb.label}'s weight is tied to the output head {head.label} with std {v.rms:.3g} at width "
            f"{d}: initial logits have std ≈ {v.rms:.3g}·√{d}"
            + (f"·{rms_h:.2g} (final hidden rms)" if s is not None else "")
            + f" ≈ {fmt(logit)}, so the first softmax is nearly one-hot and the initial loss is far above "
            f"ln V = {math.log(max(vocab, 2)):.1f}",
            node=emb,
            fix="initialise the shared weight with std 0.02 (GPT-2/BERT) or d**-0.5, or scale the logits "
                "by d**-0.5",
            numbers={"logit_std": logit, "embedding_std": v.rms, "width": float(d)},
        )


RULE = rule(
    code="MC203", name="embedding-scale", severity="warning", optional=("init_stats", "signal", "structure"),
    options={"max-logit-std": float(LOGIT_STD)},
)(check)
