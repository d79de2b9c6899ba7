"""# missing-skip-connection (MC101)

## What it does
Finds the longest chain of weight ops (Linear, Conv, attention projections) that no skip connection
bypasses: for every weight op, the shortest input → output path through it, counted in weight ops.
A residual `x + f(x)` or a concatenation skip (U-Net, DenseNet) anywhere along the way shortens that
path; a plain stack of N layers leaves it at N. More than 20 is a warning, more than 50 an error. A
chain initialised for dynamical isometry ((delta-)orthogonal weights with tanh or no activation) is
only reported as info, and a chain whose predicted gradient gain from its top to its bottom stays
within [0.1, 10] (self-normalising SELU with LeCun init, a well-initialised stack) as info up to 50
layers: there depth is judged by what it does to the gradient, not by the layer count alone.

## Why is this bad?
Deep plain networks train worse than shallow ones even when they do not overfit (the degradation
problem: plain-56 is worse than plain-20), their gradients decorrelate with depth ("shattered
gradients") and their loss landscapes turn chaotic. With BatchNorm in training mode a plain stack
also amplifies gradients by about 1.47 per layer (10⁴ at 50 layers). Residual connections keep a
short path from every layer to the loss.

## Example
```python
layers = []
for _ in range(40):
    layers += [nn.Conv2d(16, 16, 3, padding=1), nn.ReLU()]
net = nn.Sequential(*layers)
```

## Use instead
```python
class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(c, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1)
        self.bn1, self.bn2 = nn.BatchNorm2d(c), nn.BatchNorm2d(c)

    def forward(self, x):
        return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))

net = nn.Sequential(*[Block(16) for _ in range(20)])
```

## References
- He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016.
- Balduzzi et al., "The Shattered Gradients Problem: If resnets are the answer, then what is the question?", ICML 2017.
- Li, Xu, Taylor, Studer, Goldstein, "Visualizing the Loss Landscape of Neural Nets", NeurIPS 2018.
- Yang et al., "A Mean Field Theory of Batch Normalization", ICLR 2019.
- Xiao et al., "Dynamical Isometry and a Mean Field Theory of CNNs", ICML 2018; Pennington, Schoenholz, Ganguli, "Resurrecting the sigmoid in deep learning through dynamical isometry", NeurIPS 2017.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from modelcheck.diagnostics import Severity
from modelcheck.ir import Graph
from modelcheck.rule import Violation, rule
from modelcheck_rules.structure._common import fmt, signal, span, summary, width

WARN_DEPTH = 20
HEALTHY = (0.1, 10.0)  # predicted gradient gain across the chain that depth alone does not endanger
ERROR_DEPTH = 50
FIX = ("add residual connections (x + f(x)) every 2-3 layers, e.g. ResNet basic blocks, or concatenation "
       "skips; BatchNorm after each conv controls the scale but not the depth")


def _gradient_ratio(graph: Graph, names: tuple[str, ...]) -> float | None:
    """Predicted norm-form gradient gain from the chain's top back to its bottom."""
    first, last = graph.node(names[0]), graph.node(names[-1])
    entry = first.inputs[0] if first.inputs else None
    s_in, s_out = signal(entry), signal(last)
    if entry is None or s_in is None or s_out is None or s_out.g <= 0:
        return None
    return math.sqrt(s_in.g * width(entry) / (s_out.g * width(last)))


def check(graph: Graph, options: Mapping[str, Any]) -> Iterator[Violation]:
    s = summary(graph)
    if s is None:
        return
    warn = int(options.get("warn-depth", WARN_DEPTH))
    error = int(options.get("error-depth", ERROR_DEPTH))
    for chain in s.plain_chains:
        if chain.depth <= warn:
            break
        last = graph.node(chain.weight_ops[-1])
        severity = Severity.ERROR if chain.depth > error else None
        note = ""
        if chain.isometric:
            severity = Severity.INFO
            note = ("; its (delta-)orthogonal weights with tanh/linear activations give dynamical isometry "
                    "at init, so only the depth itself is noted")
        ratio = _gradient_ratio(graph, chain.weight_ops)
        if (ratio is not None and HEALTHY[0] <= ratio <= HEALTHY[1] and not chain.isometric
                and chain.depth <= error):
            # Depth is a risk through what it does to the gradient: a chain that passes it on intact
            # (SELU with LeCun init, a well-initialised ReLU stack) is only noted, up to the error depth.
            severity = Severity.INFO
            note = (f"; the predicted gradient gain across it stays within [{fmt(HEALTHY[0])}, {fmt(HEALTHY[1])}], "
                    "so its depth alone is noted")
        limit = error if chain.depth > error else warn
        numbers = {"depth": float(chain.depth), "threshold": float(limit)}
        grad = ""
        if ratio is not None:
            numbers["gradient_ratio"] = ratio
            grad = f"; predicted gradient gain across it ×{fmt(ratio)}"
        norms = f", {chain.norms} norm layers" if chain.norms else ", no normalization"
        yield Violation(
            f"{chain.depth} weight ops in sequence with no skip connection around them "
            f"({span(graph, chain.weight_ops)}{norms}); more than {limit} "
            f"plain layers train poorly{grad}{note}",
            node=last,
            severity=severity,
            fix=FIX,
            numbers=numbers,
            span=(graph.node(chain.weight_ops[0]), last),
        )


RULE = rule(
    code="MC101", name="missing-skip-connection", severity="warning", requires=("structure",), optional=("depth", "signal"),
    options={"warn-depth": int(WARN_DEPTH), "error-depth": int(ERROR_DEPTH)},
)(check)
