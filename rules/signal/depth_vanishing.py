"""# depth-gradient-vanishing (MC301)

## What it does
Predicts, from the graph and the initial weights alone, how the gradient reaching each block boundary
on the network's trunk compares with the gradient at the top, in the scale-free relative form
`G_rel(l) = ‖∂L/∂x_l‖·rms(x_l) / (‖∂L/∂x_top‖·rms(x_top))`, and flags networks whose lower layers
receive orders of magnitude less relative gradient than the top: `D = max_l |log10 G_rel(l)|`
≥ 1 is reported as info, ≥ 2 as a warning, ≥ 4 as an error. The message names the layers where most
of the loss happens.

## Why is this bad?
The per-layer factor `χ = σ_w² E[φ′(h)²]` multiplies over depth: below 1 the gradient of the first
layers vanishes exponentially, they do not learn, and the network behaves like a shallow one on top
of a random feature map. Saturating activations (sigmoid: χ = 0.153 at gain 1) and PyTorch's default
`kaiming_uniform_(a=√5)` init (σ_w² = 1/3) are the common causes. The relative form ignores pure
rescalings, so 0.02-scale embeddings do not trigger it. When the excess comes from train-mode
BatchNorm inside residual branches (a transient, Yang et al. 2019) the severity is lowered one level.

## Example
```python
layers = []
for _ in range(50):
    layers += [nn.Linear(256, 256), nn.Tanh()]  # default init: σ_w² = 1/3 → χ ≈ 0.15 per layer
net = nn.Sequential(*layers)
```

## Use instead
```python
for m in net.modules():
    if isinstance(m, nn.Linear):
        nn.init.xavier_normal_(m.weight, gain=nn.init.calculate_gain("tanh"))
        nn.init.zeros_(m.bias)
# or: ReLU + kaiming_normal_(nonlinearity="relu"), or normalization + residual connections
```

## References
- Schoenholz, Gilmer, Ganguli, Sohl-Dickstein, "Deep Information Propagation", ICLR 2017.
- Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural networks", AISTATS 2010.
- He, Zhang, Ren, Sun, "Delving Deep into Rectifiers", ICCV 2015.
- Yang et al., "A Mean Field Theory of Batch Normalization", ICLR 2019.
"""

from __future__ import annotations

from typing import Iterator

from modelcheck.ir import Graph
from modelcheck.rule import Violation, rule
from modelcheck_rules.signal._judge import relative


def check(graph: Graph) -> Iterator[Violation]:
    yield from relative(graph, vanishing=True)


RULE = rule(code="MC301", name="depth-gradient-vanishing", severity="error", requires=("depth",))(check)
