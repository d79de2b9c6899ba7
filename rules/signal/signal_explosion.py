"""# signal-explosion (MC304)

## What it does
Flags networks whose predicted signal or gradient scale explodes between input and output at
initialization: forward gain `rms(y)/rms(x)` or backward gain `rms(∂L/∂x)` above 1e3 is a warning,
above 1e4 (or beyond the floating-point range) an error, naming the layers where most of the growth
happens. Train-mode BatchNorm inside residual branches lowers it one level.

## Why is this bad?
Weights drawn with too large a variance multiply the signal at every layer (N(0, 1) weights: ×√(fan_in/2)
per ReLU layer), and residual branches that keep their input's variance double it per block. The loss
starts huge or overflows (fp16 overflows at 6.5e4), the first steps are enormous, and training
diverges or produces NaN.

## Example
```python
for m in net.modules():
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, 0.0, 1.0)  # std 1, whatever the fan-in
```

## Use instead
```python
for m in net.modules():
    if isinstance(m, nn.Linear):
        nn.init.kaiming_normal_(m.weight, nonlinearity="relu")  # std = sqrt(2 / fan_in)
```

## References
- He, Zhang, Ren, Sun, "Delving Deep into Rectifiers", ICCV 2015.
- Zhang, Dauphin, Ma, "Fixup Initialization: Residual Learning Without Normalization", ICLR 2019.
- De & Smith, "Batch Normalization Biases Residual Blocks Towards the Identity Function", NeurIPS 2020.
"""

from __future__ import annotations

from typing import Iterator

from modelcheck.ir import Graph
from modelcheck.rule import Violation, rule
from modelcheck_rules.signal._scale import judge


def check(graph: Graph) -> Iterator[Violation]:
    yield from judge(graph, exploding=True)


RULE = rule(code="MC304", name="signal-explosion", severity="error", requires=("signal", "depth"))(check)
