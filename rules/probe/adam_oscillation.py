"""# probe-adam-oscillation (MC903)

## What it does
Reported by `modelcheck lint --probe` for Adam and AdamW. On a random subset of at most 10⁵
parameters it tracks, with `η_t = α_t/(√v̂_t + ε)` the per-coordinate effective step:
`A_T = Σ‖η_t g_t‖²`, `B_T = Σ‖η_t − η_{t−1}‖₁` (how much the effective step oscillates) and
`S_T = Σ min_j η_t,j` (the progress term). Convergence needs `A_T + B_T = o(S_T)`. It reports when the
log-log slope of `B_T` (or `A_T`) against `t` is at least 0.9 while `S_T` grows more slowly, as info,
or as a warning when the loss also did not fall.

## Why is this bad?
Chen, Liu, Sun & Hong (2019) bound the progress of Adam-type methods by these three sums: when the
effective step keeps oscillating (B_T linear in t) or the variance term keeps pace with progress, Adam
need not converge even on convex problems (Reddi et al. 2018). It shows as a loss that stalls or
oscillates at a level SGD would go below.

## Example
```python
opt = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.9, 0.9))  # short v memory: η_t oscillates
```

## Use instead
```python
opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), amsgrad=True)
# AMSGrad keeps α/√v̂ non-increasing, so B_T telescopes; a larger β₂ or a decaying lr also help
```

## References
- Chen, Liu, Sun & Hong, "On the Convergence of A Class of Adam-Type Algorithms for Non-Convex
  Optimization", ICLR 2019.
- Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018.
"""

from __future__ import annotations

from typing import Iterator

from modelcheck.probe.findings import ADAM_OSCILLATION
from modelcheck.rule import Violation, rule


def check() -> Iterator[Violation]:
    """Nothing to see statically: the probe reports this rule."""
    yield from ()


RULE = rule(code=ADAM_OSCILLATION.code, name=ADAM_OSCILLATION.name, severity=ADAM_OSCILLATION.severity)(check)
