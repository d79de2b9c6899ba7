"""# probe-unstable-lr (MC902)

## What it does
Reported by `modelcheck lint --probe`. A few times during the probe's run it estimates the top
eigenvalue of the loss Hessian on the training batch by Hessian-vector-product power iteration
(20 iterations, tolerance 1e-3, warm-started from the previous check) and compares it with the
optimizer's stability threshold: `2/lr` for SGD, `(2 + 2β)/lr` with heavy-ball momentum β, and for
Adam/AdamW the *preconditioned* sharpness `λ_max(P⁻¹H)`, `P = (1 − β₁ᵗ)·diag(√v̂ + ε)`, against
`(2 + 2β₁)/((1 − β₁)·lr)` = `38/lr` at β₁ = 0.9. It warns when the sharpness exceeds 1.1× the
threshold at three checks (all of them when fewer ran) while the loss rose or became non-finite:
`unstable learning rate: top Hessian eigenvalue 830 > 2/lr = 200 while the loss rose (sgd, lr 0.01)`.
When the last check sits at or above the threshold while the loss still falls, the run is at the *edge
of stability*, which is normal for a large learning rate and not a defect: the probe says so in a note,
not a finding.

It names no "largest stable learning rate". The threshold constant over the sharpness is exact on a
quadratic, but Adam's preconditioned sharpness adapts to the learning rate it runs at (it settles near
`38/lr`), so that ratio reads back about the probe's own lr. Measured against training at a grid of
learning rates with the probe's own task, optimizer and steps (`benchmarks/lr_truth.py`, table in
`benchmarks/lr_truth.json`), it was 1.7e-4x to 8x the largest lr that trained: on a functional-RMSNorm
U-Net it said 1.7e-3 where lr 0.1 trains. The warning reports what the probe measured at its lr, nothing
more.

## Why is this bad?
On a quadratic, gradient descent with step `lr` diverges along every direction whose curvature exceeds
`2/lr`; full-batch training self-stabilises at that edge (Cohen et al. 2021) but beyond it, with a rising
loss, it is diverging.

## Example
```python
opt = torch.optim.SGD(model.parameters(), lr=1.0)  # sharpness 8 > 2/lr = 2: the loss climbs to NaN
```

## Use instead
```python
opt = torch.optim.SGD(model.parameters(), lr=0.1)  # 3-10x below the lr the probe saw diverge
# or warm the learning rate up, or add normalisation that lowers the sharpness
```

## References
- Cohen, Kaur, Li, Kolter & Talwalkar, "Gradient Descent on Neural Networks Typically Occurs at the Edge
  of Stability", ICLR 2021.
- Cohen et al., "Adaptive Gradient Methods at the Edge of Stability", arXiv:2207.14484, 2022.
- Rosca, Wu, Qin & Dherin, "On a continuous time model of gradient descent dynamics and instability in
  deep learning", TMLR 2023.
"""

from __future__ import annotations

from typing import Iterator

from modelcheck.probe.findings import UNSTABLE_LR
from modelcheck.rule import Violation, rule


def check() -> Iterator[Violation]:
    """Nothing to see statically: the probe reports this rule."""
    yield from ()


RULE = rule(code=UNSTABLE_LR.code, name=UNSTABLE_LR.name, severity=UNSTABLE_LR.severity)(check)
