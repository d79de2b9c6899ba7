"""# signal-vanishing (MC303)

## What it does
Flags networks whose predicted signal or gradient *scale* collapses between input and output at
initialization: the report's forward gain `rms(y)/rms(x)` or backward gain `rms(∂L/∂x)` (for a unit
output gradient) below 1e-3 is a warning, below 1e-4 an error. It names the layers where most of the
loss happens. Unlike MC301 it looks at absolute scale, so it also catches positively homogeneous nets
(ReLU, no bias) whose relative gradients stay balanced while the signal itself dies.

## Why is this bad?
An output 10⁴ times smaller than the input carries the input only as a rounding error of the biases;
a gradient 10⁴ times smaller than the loss gradient makes the first layers' updates vanish under SGD
and forces Adam's epsilon to dominate. He et al.'s 30-layer Xavier-initialised ReLU net does not train
for exactly this reason: each layer halves the second moment.

## Example
```python
for m in net.modules():          # 30 Linear+ReLU layers
    if isinstance(m, nn.Linear):
        nn.init.xavier_normal_(m.weight)  # variance 2/(fan_in+fan_out): ×1/√2 per ReLU layer
```

## Use instead
```python
for m in net.modules():
    if isinstance(m, nn.Linear):
        nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        nn.init.zeros_(m.bias)
```

## References
- He, Zhang, Ren, Sun, "Delving Deep into Rectifiers", ICCV 2015.
- Hanin & Rolnick, "How to Start Training: The Effect of Initialization and Architecture", NeurIPS 2018.
"""

from __future__ import annotations

from typing import Iterator

from modelcheck.ir import Graph
from modelcheck.rule import Violation, rule
from modelcheck_rules.signal._scale import judge


def check(graph: Graph) -> Iterator[Violation]:
    yield from judge(graph, exploding=False)


RULE = rule(code="MC303", name="signal-vanishing", severity="error", requires=("signal", "depth"))(check)
