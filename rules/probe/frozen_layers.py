"""# probe-frozen-layers (MC901)

## What it does
Reported by `modelcheck lint --probe`. After the probe's training run it compares each layer's
parameters with their initial values and reports the layers whose relative change
`‖θ_K − θ_0‖ / ‖θ_0‖` stayed below 1e-6, e.g. `layers blocks.0-11 did not move in 50 steps`. Layers
that never received a gradient (not used in `forward`) and parameters with `requires_grad=False` are not
counted. Under Adam it also reports the share of parameters whose `√v̂` is below `eps`: their updates
are scaled down by `g/eps`, which is how a vanishing gradient looks to Adam.

## Why is this bad?
A layer that does not move is dead weight: the network trains as if it were shallower, with those layers
fixed at their random initialisation. The usual causes are a gradient that vanishes with depth
(saturating activations, too small an init), two consecutive zero-initialised weights (both receive an
exactly zero gradient), or a gate initialised at zero with nothing to open it.

## Example
```python
net = nn.Sequential(*[m for _ in range(30) for m in (nn.Linear(256, 256), nn.Sigmoid())])
# modelcheck lint --probe: layers 0-36 did not move in 50 steps: relative update < 1e-06
```

## Use instead
```python
net = nn.Sequential(*[m for _ in range(30) for m in (nn.Linear(256, 256), nn.ReLU())])
for m in net.modules():
    if isinstance(m, nn.Linear):
        nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        nn.init.zeros_(m.bias)
```
Or add residual connections and normalisation so that every layer receives gradient.

## References
- Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural networks", AISTATS 2010.
- Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015 (the role of eps).
- Zhang, Dauphin & Ma, "Fixup Initialization", ICLR 2019 (which zero inits are safe).
"""

from __future__ import annotations

from typing import Iterator

from modelcheck.probe.findings import FROZEN_LAYERS
from modelcheck.rule import Violation, rule


def check() -> Iterator[Violation]:
    """Nothing to see statically: the probe reports this rule."""
    yield from ()


RULE = rule(code=FROZEN_LAYERS.code, name=FROZEN_LAYERS.name, severity=FROZEN_LAYERS.severity)(check)
