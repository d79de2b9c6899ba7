"""# probe-nonfinite (MC900)

## What it does
Reported by `modelcheck lint --probe`. During the probe's short training run every module's inputs and
output are checked for NaN/inf on every step, and the loss and each layer's gradient after every
backward pass. The first non-finite value is reported with the step and the module that *produced* it
(finite inputs, non-finite output), e.g. `loss became NaN at step 7 in blocks.3.attn`; a non-finite
gradient names the layer where backward first produced it. Training stops there, before the update, so
the other probe measurements still see finite weights.

## Why is this bad?
One NaN poisons every parameter it reaches through the next update, and the run is lost. Early NaNs come
from an exploding forward signal (activations beyond float range), a learning rate far above the
stability threshold, or an operation that is undefined for values training reaches: a division by a
parameter that crosses zero, `log`/`sqrt` of a non-positive number, `exp` of a large score, a norm with
`eps` too small for the input's variance.

## Example
```python
class Scale(nn.Module):
    def __init__(self):
        super().__init__()
        self.s = nn.Parameter(torch.tensor(0.01))

    def forward(self, x):
        return x / self.s  # s crosses 0 after a few updates: inf, then NaN
```

## Use instead
```python
    def forward(self, x):
        return x * self.s  # or x / (self.s.abs() + 1e-3), or a log-parameterised scale
```
Lower the learning rate, add normalisation, or guard the operation the finding points at.

## References
- Goodfellow, Bengio & Courville, *Deep Learning*, §4.1 "Overflow and Underflow", MIT Press 2016.
- Micikevicius et al., "Mixed Precision Training", ICLR 2018 (loss scaling against under/overflow).
"""

from __future__ import annotations

from typing import Iterator

from modelcheck.probe.findings import NONFINITE
from modelcheck.rule import Violation, rule


def check() -> Iterator[Violation]:
    """Nothing to see statically: the probe reports this rule."""
    yield from ()


RULE = rule(code=NONFINITE.code, name=NONFINITE.name, severity=NONFINITE.severity)(check)
