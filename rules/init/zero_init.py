"""# zero-init-symmetry (MC202)

## What it does
Flags Linear/Conv weights (and normalisation scales γ) that start at zero or at one constant value,
unless the zero is one of the intended patterns: the last weight op of a residual branch (Fixup,
torchvision's `zero_init_residual` on the last BatchNorm γ), an op whose output is gated or added to
another stream (ReZero/SkipInit gates, LayerScale, adaLN-Zero modulation, ControlNet's zero convs), a
head that produces the model output (ViT fine-tuning), or a bias/β (never checked). Anything else is a
warning. It is an error when two such weight ops follow each other on one path with no skip around
them, or when a zero layer feeds a ReLU through biases ≤ 0: then the gradient is exactly zero.

## Why is this bad?
A zero weight makes every output unit of the layer compute the same thing (its bias), and a constant
weight does the same up to a scale, so gradient descent updates the units identically unless the
layer after it breaks the tie. With two zero layers in a row nothing breaks it: the second layer's
gradient is proportional to the first's output (constant) and the first layer's gradient is
proportional to the second's weights (zero), so both stay stuck or symmetric forever. A zero layer
before a ReLU with non-positive biases outputs `relu(b) = 0` with `relu′ = 0`, which blocks every
gradient at once. Zeros at the end of a residual branch are different: the skip carries the signal
and the gradient, and the block starts as the identity on purpose.

## Example
```python
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.out = nn.Linear(64, 64), nn.Linear(64, 64), nn.Linear(64, 10)
        nn.init.zeros_(self.fc1.weight)
        nn.init.zeros_(self.fc2.weight)  # two zero layers in a row: no gradient ever

    def forward(self, x):
        return self.out(torch.relu(self.fc2(torch.relu(self.fc1(x)))))
```

## Use instead
```python
        nn.init.kaiming_normal_(self.fc1.weight, nonlinearity="relu")
        nn.init.kaiming_normal_(self.fc2.weight, nonlinearity="relu")
        # zeros belong on the last layer of a residual branch:  x + fc2(relu(fc1(x)))  (Fixup)
```

## References
- Zhang, Dauphin, Ma, "Fixup Initialization: Residual Learning Without Normalization", ICLR 2019.
- Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017 (zero-γ residual BN).
- Bachlechner et al., "ReZero is All You Need: Fast Convergence at Large Depth", UAI 2021.
- De & Smith, "Batch Normalization Biases Residual Blocks Towards the Identity Function in Deep Networks", NeurIPS 2020 (SkipInit).
- Touvron et al., "Going deeper with Image Transformers", ICCV 2021 (LayerScale).
- Goodfellow, Bengio, Courville, "Deep Learning", MIT Press 2016, §8.4 (breaking symmetry).
"""

from __future__ import annotations

from collections.abc import Iterator

from modelcheck.diagnostics import Severity
from modelcheck.ir import Graph, Node, Op
from modelcheck.numerics.activations import RELU
from modelcheck.passes.facts import ParamInfo, param_info
from modelcheck.passes.walks import (
    TRANSPARENT,
    branch_tails,
    is_gate,
    is_join,
    is_weight_op,
    norm_scales_by_weight,
    scalar,
    walk,
)
from modelcheck.rule import Violation, rule

# Ops through which a zero output is followed to see where it ends up (all consumers are visited).
_FOLLOW = TRANSPARENT | {Op.SPLIT, Op.SOFTMAX, Op.REDUCE}
_FIX = ("give it a random init (the module's default, or nn.init.kaiming_normal_/xavier_normal_ for "
        "the nonlinearity that follows); keep zeros for the last layer of a residual branch or a head")


def _degenerate(graph: Graph, node: Node) -> ParamInfo | None:
    if is_weight_op(node):
        v = param_info(graph, node.params.get("weight"))
        return v if v is not None and v.trainable and v.degenerate else None
    if norm_scales_by_weight(node):  # γ = 1 is the default: only γ = 0 kills the signal (not Gemma's 1 + γ)
        v = param_info(graph, node.params.get("weight"))
        return v if v is not None and v.trainable and v.is_zero else None
    return None


def _next_member(node: Node, members: dict[Node, ParamInfo]) -> Node | None:
    """The next weight op or zero-γ norm reached through transparent ops and live norms, if any."""
    cur = node
    while len(cur.users) == 1:
        nxt = cur.users[0]
        if nxt in members or is_weight_op(nxt):
            return nxt if nxt.inputs and nxt.inputs[0] is cur else None
        if nxt.op not in TRANSPARENT and nxt.op is not Op.NORM and scalar(nxt) is None:
            return None
        cur = nxt
    return None


def _scalar_add(node: Node) -> bool:
    return node.op in (Op.ADD, Op.SUB) and len(node.inputs) == 1


def _intended(node: Node, tails: set[str]) -> str | None:
    """Why a zero here is a known pattern, or None."""
    if node.name in tails:
        return "last weight op of a residual branch"
    seen: set[Node] = set()
    frontier, reasons = [node], []
    while frontier:
        cur = frontier.pop()
        if not cur.users:
            return None
        for u in cur.users:
            if u in seen:
                continue
            seen.add(u)
            if u.op in _FOLLOW or scalar(u) is not None or _scalar_add(u):
                frontier.append(u)
            elif u.op is Op.OUTPUT:
                reasons.append("head")
            elif is_join(u):
                reasons.append("added to another stream")
            elif is_gate(u):
                reasons.append("gated")
            else:
                return None
    return reasons[0] if reasons else None


def _what(v: ParamInfo) -> str:
    return "zero" if v.is_zero else f"constant ({v.mean:.3g})"


def _relu_dead(graph: Graph, node: Node, v: ParamInfo) -> bool:
    """A zero layer whose output is relu(b) with every b <= 0: relu(b) = 0 and relu'(b) = 0."""
    if not v.is_zero:
        return False
    step = walk(node)
    if step.act is None or str(step.act.attrs.get("fn", "")) not in RELU:
        return False
    b = param_info(graph, node.params.get("bias"))
    return b is None or b.is_zero or (b.is_constant and b.mean <= 0)


def check(graph: Graph) -> Iterator[Violation]:
    members = {n: v for n in graph.nodes if (v := _degenerate(graph, n)) is not None}
    if not members:
        return
    nxt = {n: m for n in members if (m := _next_member(n, members)) is not None and m in members}
    targets = set(nxt.values())
    tails = branch_tails(graph)
    for n, v in members.items():
        if n in targets:
            continue
        run = [n]
        while run[-1] in nxt:
            run.append(nxt[run[-1]])
        if len(run) > 1:
            names = ", ".join(m.label for m in run)
            yield Violation(
                f"{names} are {' and '.join(sorted({_what(members[m]).split(' ')[0] for m in run}))}-"
                f"initialised one after another with no skip around them: each one's gradient goes "
                f"through the others' zero/constant weights or outputs, so they start with exactly zero "
                f"gradient or identical units, and the symmetry is never broken",
                node=run[0], severity=Severity.ERROR, fix=f"for all but the last of them: {_FIX}",
                numbers={"consecutive": float(len(run))},
            )
            continue
        why = _intended(n, tails)
        if why is not None:
            continue
        if _relu_dead(graph, n, v):
            yield Violation(
                f"{n.label} is zero-initialised and feeds a ReLU through biases ≤ 0: every unit outputs "
                f"relu(b) = 0 with zero derivative, so no gradient reaches {n.label}, the layer after it, "
                f"or anything before it",
                node=n, severity=Severity.ERROR, fix=_FIX, span=(n, n),
            )
            continue
        kind = "scale γ" if n.op is Op.NORM else "weight"
        yield Violation(
            f"{n.label}'s {kind} is {_what(v)} at init but it is not the last layer of a residual branch, "
            f"a gate, a head or a bias: all its output units start identical and only the next layer's "
            f"random weights can tell them apart",
            node=n, fix=_FIX,
        )


RULE = rule(code="MC202", name="zero-init-symmetry", severity="warning", requires=("structure",), optional=("signal",))(check)
