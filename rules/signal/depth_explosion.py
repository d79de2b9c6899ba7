"""# depth-gradient-explosion (MC302)

## What it does
The mirror image of MC301: flags networks whose lower layers receive orders of magnitude *more*
relative gradient than the top, `D = max_l |log10 G_rel(l)|` with `G_rel > 1` (≥ 1 info, ≥ 2
warning, ≥ 4 error), naming the layers where most of the growth happens.

## Why is this bad?
With a per-layer factor `χ > 1` (weights too large for the nonlinearity, tanh in its chaotic phase
at gain > 1, BatchNorm without skips, whose centring adds a factor `π/(π−1)` per layer) the gradient
grows exponentially towards the input. The first layers then take steps far larger than the last,
the loss surface is chaotic, and training diverges or needs tiny learning rates. When the growth is
attributable to train-mode BatchNorm inside residual branches (largely gone after one step, Yang et
al. 2019) the severity is lowered one level.

## Example
```python
layers = []
for _ in range(50):
    layers += [nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU()]  # BN-plain: ×1.2 per layer
net = nn.Sequential(*layers)
```

## Use instead
```python
class Block(nn.Module):  # residual connections keep the gradient path short
    def __init__(self, d):
        super().__init__()
        self.f = nn.Sequential(nn.BatchNorm1d(d), nn.ReLU(), nn.Linear(d, d))
    def forward(self, x):
        return x + self.f(x)
```

## References
- Yang, Pennington, Rao, Sohl-Dickstein, Schoenholz, "A Mean Field Theory of Batch Normalization", ICLR 2019.
- Schoenholz et al., "Deep Information Propagation", ICLR 2017.
- Pennington, Schoenholz, Ganguli, "Resurrecting the sigmoid in deep learning through dynamical isometry", NeurIPS 2017.
"""

from __future__ import annotations

from typing import Iterator

from modelcheck.ir import Graph
from modelcheck.rule import Violation, rule
from modelcheck_rules.signal._judge import relative


def check(graph: Graph) -> Iterator[Violation]:
    yield from relative(graph, vanishing=False)


RULE = rule(code="MC302", name="depth-gradient-explosion", severity="error", requires=("depth",))(check)
