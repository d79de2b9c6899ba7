"""# excessive-local-sensitivity (MC401)

## What it does
Measures how strongly the model amplifies a *relative* change of its input at the example input:
the local sensitivity `κ(x) = ‖J(x)‖₂ · rms(x) / rms(f(x))` (the condition number of `f` at `x`,
with `‖J(x)‖₂` found by power iteration on Jacobian-vector products). It warns when `κ(x) > 10³`
and names the module with the largest local Jacobian norm. The global Lipschitz upper bound
(AutoLip, the product of per-layer constants) is reported as info only when it is huge: it is an
upper bound, loose by 10³–10¹¹ in deep networks, and is never a reason to warn on its own.

This rule is **opt-in** (`--extend-select MC401`): its power iteration runs the model dozens of times,
which a pre-commit hook cannot afford on large models.

## Why is this bad?
With `κ(x) = 10⁶` a perturbation of one part in a million of the input (noise, rounding in
float16/bfloat16, an adversarial nudge) changes the output by 100%: the model is ill-conditioned at
the inputs it will see. Gradients inherit the same amplification, so training is noisy and
learning rates must be tiny. Typical causes are a division by a small quantity (a hand-written
normalisation with a tiny `eps` applied to padding or near-constant rows), huge weight scales, or
two branches that nearly cancel. Healthy models sit far below the threshold: ResNet-50 0.5,
ConvNeXt-T 2.9, ViT-B 7.1, GPT-2 17.5 (measured at initialization).

## Example
```python
def forward(self, x):                      # x: (B, T, d) with all-zero padding rows
    x = x * torch.rsqrt(x.pow(2).sum(-1, keepdim=True) + 1e-12)   # gain 10⁶ on the padding
    return self.head(self.mlp(x))
```

## Use instead
```python
def forward(self, x):
    mask = (x.abs().sum(-1, keepdim=True) > 0).to(x.dtype)
    x = x * torch.rsqrt(x.pow(2).sum(-1, keepdim=True) + 1e-5) * mask   # or nn.LayerNorm(d)
    return self.head(self.mlp(x))
```

## References
- Virmaux & Scaman, "Lipschitz regularity of deep neural networks: analysis and efficient estimation", NeurIPS 2018.
- Fazlyab et al., "Efficient and Accurate Estimation of Lipschitz Constants for Deep Neural Networks", NeurIPS 2019.
- Novak et al., "Sensitivity and Generalization in Neural Networks: an Empirical Study", ICLR 2018.
- Kim, Papamakarios, Mnih, "The Lipschitz Constant of Self-Attention", ICML 2021.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Mapping

from modelcheck.diagnostics import Severity
from modelcheck.ir import Graph, Node
from modelcheck.passes.facts import (
    JACOBIAN,
    LIPSCHITZ,
    JacobianSummary,
    LipschitzSummary,
)
from modelcheck.rule import Violation, rule

MAX_KAPPA = 1e3  # THEORY R6
AUTOLIP_INFO_LOG10 = 6.0  # report log10 AutoLip at or above this, as info


def _fmt(v: float) -> str:
    return f"{v:.3g}" if math.isfinite(v) else str(v)


def _node_of(graph: Graph, path: str) -> Node | None:
    return next((n for n in graph.nodes if n.module_path == path), None)


def check(graph: Graph, options: Mapping[str, Any]) -> Iterator[Violation]:
    max_kappa = float(options.get("max-kappa", MAX_KAPPA))
    info_log10 = float(options.get("autolip-info-log10", AUTOLIP_INFO_LOG10))
    jac = graph.facts.get(JACOBIAN)
    kappa: float | None = None
    if isinstance(jac, JacobianSummary) and jac.model is not None and math.isfinite(jac.model.rms_out):
        m = jac.model  # (a non-finite output is MC30x's finding; its Jacobian says nothing more)
        kappa = 0.0 if m.norm == 0 else m.kappa  # None: a non-constant map with an all-zero output
        if kappa is None or not kappa <= max_kappa:
            largest = jac.largest
            node = _node_of(graph, largest[0]) if largest else None
            where = ""
            if largest:
                where = f"; the largest local Jacobian norm is at {largest[0]} (‖J‖ = {_fmt(largest[1].norm)})"
            if largest and not largest[1].norm * 10 >= m.norm:  # no module explains it: point at the model
                node = None
                where = (f"; no weight module accounts for it (largest ‖J‖ = {_fmt(largest[1].norm)} at {largest[0]}): "
                         "look at the functional ops between modules (hand-written normalisation, divisions)")
            what = f"= {_fmt(kappa)} > {max_kappa:g}" if kappa is not None and math.isfinite(kappa) \
                else "is not finite (inf/NaN in the Jacobian, or a zero output)"
            yield Violation(
                f"local sensitivity κ(x) {what} at the example input: a relative input change ε moves the output "
                f"by up to κ·ε (‖J(x)‖ = {_fmt(m.norm)}, rms(x) = {_fmt(m.rms_in)}, rms(f(x)) = {_fmt(m.rms_out)}, "
                f"x = {jac.x}){where}",
                node=node,
                fix="look for a division by a small quantity (normalisation eps on padding or constant rows), "
                    "an oversized weight scale, or branches that nearly cancel",
                numbers={"kappa": kappa if kappa is not None else math.inf, "jacobian_norm": m.norm,
                         "rms_in": m.rms_in, "rms_out": m.rms_out,
                         **({"module_norm": largest[1].norm} if largest else {})},
            )
    lip = graph.facts.get(LIPSCHITZ)
    if isinstance(lip, LipschitzSummary) and lip.log10 is not None and lip.log10 >= info_log10:
        local = f"; the local sensitivity at the example input is κ(x) = {_fmt(kappa)}" if kappa is not None else ""
        kind = "certified" if lip.certified else "estimated (no weights)"
        yield Violation(
            f"global Lipschitz upper bound (AutoLip, {kind}) is 10^{lip.log10:.1f}: informational only, the "
            f"product of per-layer constants overestimates deep networks by 10^3-10^11{local}",
            severity=Severity.INFO,
            numbers={"log10_autolip": lip.log10},
        )


RULE = rule(
    code="MC401", name="excessive-local-sensitivity", severity="warning", requires=("lipschitz", "jacobian"),
    opt_in=True,
    options={"max-kappa": float(MAX_KAPPA), "autolip-info-log10": float(AUTOLIP_INFO_LOG10)},
)(check)
