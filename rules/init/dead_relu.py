"""# dead-relu-risk (MC204)

## What it does
For every Linear/Conv whose output goes straight into a ReLU, compares the mean bias `b̄` with the
predicted spread `σ_z` of the weighted input (`σ_z² = q_pre − E[b²]`, from the signal pass). A unit's
share of active inputs is `Φ(b/σ_z)`; over units whose biases spread by `s_b` it is
`Φ(b̄/√(σ_z² + s_b²))`, so PyTorch's random zero-mean default biases never count as a shift. Below
`−1.28` (under 10% active) is a warning, below `−2.33` (under 1%) an error. A plain ReLU stack that
is at most 10 units wide and at least 10 layers deep gets an info: such nets are likely to be born
dead whatever the biases.

## Why is this bad?
A ReLU unit whose pre-activation is negative for every input outputs zero with zero derivative: it
gets no gradient and never recovers. Strongly negative bias initialisations do this to most units at
once; in narrow deep nets a single layer with all units off stops the whole forward and backward pass,
and the probability of that at initialisation grows with depth (Lu et al. 2020).

## Example
```python
fc = nn.Linear(256, 256)
nn.init.kaiming_normal_(fc.weight, nonlinearity="relu")
nn.init.constant_(fc.bias, -3.0)   # σ_z ≈ 1.4: Φ(−2.1) ≈ 2% of inputs reach a unit
h = torch.relu(fc(x))
```

## Use instead
```python
nn.init.zeros_(fc.bias)            # or a small positive constant such as 0.01
```

## References
- Lu, Shin, Su, Karniadakis, "Dying ReLU and Initialization: Theory and Numerical Examples", Communications in Computational Physics 2020.
- He, Zhang, Ren, Sun, "Delving Deep into Rectifiers", ICCV 2015.
- Hanin & Rolnick, "How to Start Training: The Effect of Initialization and Architecture", NeurIPS 2018.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from modelcheck.diagnostics import Severity
from modelcheck.ir import Graph, Node, Op
from modelcheck.numerics import gains as initmath
from modelcheck.numerics.activations import RELU
from modelcheck.passes.facts import param_info
from modelcheck.passes.walks import feeds, is_weight_op, signal, walk
from modelcheck.rule import Violation, rule

WARN_Z = initmath.normal_quantile(0.10)  # −1.28: under 10% active
ERROR_Z = initmath.normal_quantile(0.01)  # −2.33: under 1% active
NARROW, DEEP = 10, 10
# Between the weight op and the ReLU only layout ops: pooling or dropout would change σ_z.
_LAYOUT = frozenset({Op.RESHAPE, Op.IDENTITY, Op.PAD})


def _relu_after(node: Node) -> Node | None:
    step = walk(node)
    act = step.act
    if act is None or str(act.attrs.get("fn", "")) not in RELU or step.scale != 1.0:
        return None
    before = step.path[: step.path.index(act)]
    return act if all(p.op in _LAYOUT for p in before) else None


def _width(graph: Graph, node: Node) -> int | None:
    if node.op is not Op.LINEAR:
        return None
    out = node.attrs.get("out_features")
    if isinstance(out, int):
        return out
    t = graph.param(node, "weight")
    return int(t.shape[0]) if t is not None and t.dim() == 2 else None


def _narrow_deep(graph: Graph) -> Violation | None:
    """The longest plain Linear→ReLU chain whose layers are all at most NARROW wide."""
    nxt: dict[Node, Node] = {}
    narrow = {n for n in graph.of(Op.LINEAR) if (w := _width(graph, n)) is not None and w <= NARROW
              and _relu_after(n) is not None}
    for n in narrow:
        st = walk(n)
        if st.terminal in narrow and feeds(st, n, st.terminal):
            nxt[n] = st.terminal
    best: list[Node] = []
    for n in narrow - set(nxt.values()):
        run = [n]
        while run[-1] in nxt:
            run.append(nxt[run[-1]])
        best = max(best, run, key=len)
    if len(best) < DEEP:
        return None
    width = max(_width(graph, n) or 0 for n in best)
    return Violation(
        f"{len(best)} ReLU layers of width ≤ {width} in a row ({best[0].label} … {best[-1].label}): narrow deep "
        f"ReLU nets are likely to be born dead (a layer with every unit off stops all signal and gradient)",
        node=best[0], severity=Severity.INFO,
        fix="widen the layers, make the net shallower, add skip connections, or use LeakyReLU",
        numbers={"depth": float(len(best)), "width": float(width)},
    )


def check(graph: Graph) -> Iterator[Violation]:
    for n in graph.nodes:
        if not is_weight_op(n) or not n.params.get("bias"):
            continue
        act = _relu_after(n)
        b = param_info(graph, n.params.get("bias"))
        s = signal(n)
        if act is None or b is None or s is None:
            continue
        var_z = s.q - b.mean_sq
        if var_z <= 0 or b.mean >= 0:
            continue
        # Over units b_j ~ (b̄, s_b²): the share of (unit, input) pairs that are on is Φ(b̄/√(σ_z² + s_b²)),
        # so a random zero-mean bias (PyTorch's default) never counts as a shift.
        spread = math.sqrt(var_z + b.std**2)
        z = b.mean / spread
        if z >= WARN_Z:
            continue
        active = initmath.active_fraction(b.mean, spread)
        yield Violation(
            f"{n.label}'s bias (mean {b.mean:.3g}) sits {-z:.2f} σ below zero against the predicted spread "
            f"σ_z = {math.sqrt(var_z):.3g} of its weighted input: the following ReLU is on for about "
            f"{active:.1%} of inputs, so most units are dead at init and get no gradient",
            node=n, severity=Severity.ERROR if z < ERROR_Z else Severity.WARNING,
            fix="initialise the bias to zero (nn.init.zeros_) or to a small positive constant",
            numbers={"bias_over_sigma": z, "active_fraction": active},
        )
    info = _narrow_deep(graph)
    if info is not None:
        yield info


RULE = rule(code="MC204", name="dead-relu-risk", severity="warning", requires=("signal",), optional=("depth", "structure"))(check)
