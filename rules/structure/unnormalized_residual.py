"""# unnormalized-residual (MC102)

## What it does
Finds runs of 10 or more residual blocks along one stream that have no normalization (in the branch
or on the trunk) and none of the residual-scaling schemes: a branch gate initialised at most 0.1
(ReZero, SkipInit, LayerScale), a zero-initialised last branch layer (Fixup, `zero_init_residual`),
a last branch layer with std at most 1/√(fan_in·N) (GPT-2's 0.02/√(2N)), or constant skip/branch
scalars (DeepNorm α > 1, NF-ResNet α ≤ 0.5). It then reads the predicted growth of the residual
stream's RMS over the run: more than 10× is a warning, more than 10³× an error. Without signal
predictions the structural pattern alone is reported as a warning.

## Why is this bad?
Each block adds its branch's variance to the stream: q grows by (1 + c) per block, so the RMS grows
like ∏(1 + c_l)^{1/2}. PyTorch's default init gives 15× over 100 blocks, a variance-preserving
branch 2^{L/2} (10¹⁵ at 100 blocks), Kaiming on both layers 3^{L/2}. The activations overflow, the
loss starts huge and the first steps blow up.

## Example
```python
class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, x):
        return x + self.fc2(torch.relu(self.fc1(x)))  # 100 of these, no norm
```

## Use instead
```python
class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, d), nn.Linear(d, d)
        self.alpha = nn.Parameter(torch.zeros(()))  # ReZero; or nn.init.zeros_(self.fc2.weight) (Fixup)

    def forward(self, x):
        return x + self.alpha * self.fc2(torch.relu(self.fc1(x)))
```

## References
- Zhang, Dauphin, Ma, "Fixup Initialization: Residual Learning Without Normalization", ICLR 2019.
- De & Smith, "Batch Normalization Biases Residual Blocks Towards the Identity Function in Deep Networks", NeurIPS 2020.
- Bachlechner et al., "ReZero is All You Need: Fast Convergence at Large Depth", UAI 2021.
- Hanin & Rolnick, "How to Start Training: The Effect of Initialization and Architecture", NeurIPS 2018.
- Brock, De, Smith, "Characterizing signal propagation to close the performance gap in unnormalized ResNets", ICLR 2021.
- Wang et al., "DeepNet: Scaling Transformers to 1,000 Layers", 2022.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from modelcheck.diagnostics import Severity
from modelcheck.ir import Graph, Node, Op
from modelcheck.passes.facts import ResidualJoin
from modelcheck.rule import Violation, rule
from modelcheck_rules.structure._common import (
    NO_SIGNAL,
    block_module,
    fmt,
    join,
    signal,
    summary,
)

MIN_BLOCKS = 10
WARN_GROWTH = 10.0
ERROR_GROWTH = 1e3
FIX = ("scale the residual branch: zero-init its last layer (Fixup, torchvision's zero_init_residual) or "
       "multiply it by a learnable scalar initialised to 0 (ReZero), or add normalization "
       "(BatchNorm/LayerNorm) inside each branch")


def _trunk_norm(graph: Graph, prev: Node, j: ResidualJoin) -> bool:
    """A NORM on the trunk between the previous join and this join's fork."""
    n = graph.node(j.fork)
    for _ in range(16):
        if n is prev:
            return False
        if n.op is Op.NORM:
            return True
        if not n.inputs:
            return False
        n = next((i for i in n.inputs if i.op not in (Op.PARAM, Op.CONST)), n.inputs[0])
    return False


def _bare(j: ResidualJoin) -> bool:
    return not j.branch_norms and j.post_norm is None and not j.scaling


def _runs(graph: Graph, names: tuple[str, ...]) -> list[list[str]]:
    runs: list[list[str]] = []
    cur: list[str] = []
    prev: Node | None = None
    for name in names:
        j = join(graph, name)
        if cur and (not _bare(j) or (prev is not None and _trunk_norm(graph, prev, j))):
            runs.append(cur)  # a normalized or scaled block, or a norm on the trunk, ends the run
            cur = []
        if _bare(j):
            cur.append(name)
        prev = graph.node(name)
    if cur:
        runs.append(cur)
    return runs


def check(graph: Graph, options: Mapping[str, Any]) -> Iterator[Violation]:
    s = summary(graph)
    if s is None:
        return
    min_blocks = int(options.get("min-blocks", MIN_BLOCKS))
    for stack in s.stacks:
        for run in _runs(graph, stack.joins):
            if len(run) < min_blocks:
                continue
            first, last = graph.node(run[0]), graph.node(run[-1])
            jf = join(graph, run[0])
            s0, s1 = signal(graph.node(jf.fork)), signal(last)
            where = f"{block_module(graph, jf, first)} … {block_module(graph, join(graph, run[-1]), last)}"
            head = f"{len(run)} residual blocks ({where}) add branches with no normalization and no residual scaling"
            numbers: dict[str, float] = {"blocks": float(len(run))}
            if s0 is None or s1 is None or s0.q <= 0:
                severity: Severity | None = Severity.WARNING
                tail = f"; {NO_SIGNAL}"
            else:
                growth = math.sqrt(s1.q / s0.q) if s1.q < math.inf else math.inf
                numbers["growth"] = min(growth, 1e300)  # finite for JSON
                if growth > ERROR_GROWTH:
                    severity = Severity.ERROR
                elif growth > WARN_GROWTH:
                    severity = Severity.WARNING
                else:
                    continue
                per = growth ** (1.0 / len(run)) if math.isfinite(growth) and growth > 0 else math.inf
                tail = (f": the predicted stream RMS grows ×{fmt(growth)} over them "
                        f"(×{per:.3g} per block) at initialization")
            yield Violation(head + tail, node=first, module=block_module(graph, jf, first),
                            severity=severity, fix=FIX, numbers=numbers)


RULE = rule(
    code="MC102", name="unnormalized-residual", severity="error", requires=("structure", "signal"),
    options={"min-blocks": int(MIN_BLOCKS)},
)(check)
