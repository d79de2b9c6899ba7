"""# layernorm-eps-too-small (MC205)

## What it does
Checks every LayerNorm / RMSNorm / GroupNorm / InstanceNorm against the scale of its input: a
predicted input RMS below 3√ε is a warning (the normalization is ε-dominated there and its local
Lipschitz constant max|γ|/√(v+ε) approaches max|γ|/√ε), and so is a norm running in float16 or
bfloat16 with ε < 6·10⁻⁸ (ε rounds to zero in fp16, and tiny row variances underflow). The usual
conventions pass: BERT and ViT (ε = 10⁻¹², input RMS ≈ 1), Llama (10⁻⁶), GPT-2 (10⁻⁵).

## Why is this bad?
LayerNorm divides by √(v + ε). While the row variance v ≫ ε, ε does not matter. When inputs are
tiny (a 0.02-scale embedding fed through a zero-initialised branch, padding rows, a vanishing
signal) the division amplifies noise by up to 1/√ε (10⁶ at ε = 10⁻¹²), and in half precision
`v + ε` can be exactly zero: inf/NaN in the forward pass.

## Example
```python
self.norm = nn.LayerNorm(d, eps=1e-12)
...
h = self.norm(1e-4 * x)          # input RMS 1e-4 ... or the model in .half()
```

## Use instead
```python
self.norm = nn.LayerNorm(d, eps=1e-5)  # or 1e-6; keep eps >= 6e-8 (fp16's smallest subnormal)
```

## References
- Ba, Kiros, Hinton, "Layer Normalization", 2016.
- Zhang & Sennrich, "Root Mean Square Layer Normalization", NeurIPS 2019.
- Micikevicius et al., "Mixed Precision Training", ICLR 2018.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from modelcheck.ir import Graph, Node, Op
from modelcheck.rule import Violation, rule
from modelcheck_rules.structure._common import fmt, signal

KINDS = ("layer", "rms", "group", "instance")
RMS_FACTOR = 3.0
HALF_MIN_EPS = 6e-8  # float16's smallest subnormal
HALF = ("float16", "bfloat16")
FIX = "use eps=1e-5 (or 1e-6 for RMSNorm); keep eps >= 6e-8 in float16/bfloat16"


def _eps(node: Node, dtype: str) -> float | None:
    eps = node.attrs.get("eps")
    if isinstance(eps, (int, float)):
        return float(eps)
    if node.attrs.get("kind") == "rms":  # RMSNorm(eps=None) uses finfo(dtype).eps
        try:
            return float(torch.finfo(getattr(torch, dtype)).eps)
        except (AttributeError, TypeError):
            return float(torch.finfo(torch.float32).eps)
    return None


def _input(node: Node) -> Node | None:
    return next((i for i in node.inputs if i.op not in (Op.PARAM, Op.CONST)), None)


def check(graph: Graph, options: Mapping[str, Any]) -> Iterator[Violation]:
    factor = float(options.get("rms-factor", RMS_FACTOR))
    small: list[tuple[float, Node, float, float]] = []  # (rms / 3 sqrt(eps), node, rms, eps)
    half: list[tuple[Node, float, str]] = []
    for node in graph.of(Op.NORM):
        if node.attrs.get("kind") not in KINDS:
            continue
        x = _input(node)
        dtype = (x.meta.dtype if x is not None and x.meta is not None else
                 node.meta.dtype if node.meta is not None else "float32")
        eps = _eps(node, dtype)
        if eps is None:
            continue
        if dtype in HALF and eps < HALF_MIN_EPS:
            half.append((node, eps, dtype))
        s = signal(x)
        if s is not None and s.q >= 0:
            rms = math.sqrt(s.q)
            limit = factor * math.sqrt(eps)
            if rms < limit:
                small.append((rms / limit if limit > 0 else 0.0, node, rms, eps))
    if small:
        _, node, rms, eps = min(small, key=lambda t: t[0])
        more = f" (and {len(small) - 1} more norms)" if len(small) > 1 else ""
        yield Violation(
            f"{node.label}: predicted input RMS {fmt(rms)} is below 3·√eps = {fmt(factor * math.sqrt(eps))} "
            f"(eps = {eps:g}){more}: the normalization is eps-dominated and amplifies noise up to 1/√eps",
            node=node, severity=None,
            fix="raise eps (1e-5) or fix the scale of what feeds the norm",
            numbers={"input_rms": rms, "eps": eps, "norms": float(len(small))},
        )
    if half:
        node, eps, dtype = half[0]
        more = f" (and {len(half) - 1} more norms)" if len(half) > 1 else ""
        yield Violation(
            f"{node.label} runs in {dtype} with eps = {eps:g} < 6e-8{more}: eps rounds to zero and "
            f"v + eps can be 0 (inf/NaN)",
            node=node, severity=None, fix=FIX,
            numbers={"eps": eps, "norms": float(len(half))},
        )


RULE = rule(
    code="MC205", name="layernorm-eps-too-small", severity="warning", requires=("structure", "signal"),
    options={"rms-factor": float(RMS_FACTOR)},
)(check)
