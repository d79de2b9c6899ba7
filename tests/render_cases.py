"""Hand-built reports for the reporter tests (tests/test_render_*.py): each case is one situation a
reporter must handle. Numbers are arbitrary fixtures, not measurements."""

from __future__ import annotations

import math

from modelcheck.diagnostics import (
    ErrorInfo,
    FileMessage,
    Finding,
    LayerStat,
    Metrics,
    ModelReport,
    ProbeVerdict,
    RunReport,
    Severity,
)
from modelcheck.rule import Rule, Violation

DEEP = "examples/deep.py"
LIBRARY = "/opt/site-packages/torch/nn/modules/linear.py"  # never under a test's repository root


def profile(depth: int = 30, *, measured: bool = False) -> tuple[LayerStat, ...]:
    """Activations flat, gradients shrinking by 10x per layer from the output back to the input."""
    rows = []
    for i in range(depth):
        grad = 10.0 ** -(depth - 1 - i) * 0.5
        rows.append(
            LayerStat(
                label=f"layers.{i}",
                activation_rms=1.0 + 0.01 * i,
                gradient_rms=grad,
                measured_activation_rms=(1.1 + 0.01 * i) if measured else None,
                measured_gradient_rms=grad * 2 if measured else None,
            )
        )
    return tuple(rows)


CLEAN = ModelReport(
    file="examples/clean.py",
    model="CleanMLP",
    metrics=Metrics(forward_gain=1.02, backward_gain=0.93, lipschitz_upper_bound=3.2),
    tracer="fx",
    num_parameters=1_234_567,
    input_source="example_inputs() method",
)

FINDINGS = (
    Finding(
        rule="MC301",
        name="depth-gradient-vanishing",
        severity=Severity.ERROR,
        message="predicted backward gain 5e-30 over 30 layers",
        module="layers.29",
        file=DEEP,
        line=42,
        fix="add residual connections or normalisation",
        numbers={"backward_gain": 5e-30, "depth": 30},
    ),
    Finding(
        rule="MC102",
        name="norm-after-residual",
        severity=Severity.WARNING,
        message="LayerNorm sits after the residual add [B, T, 64]",
        module="blocks.3.norm",
        file=DEEP,
        line=17,
        probe=ProbeVerdict.CONFIRMED,
    ),
    Finding(
        rule="MC201",
        name="weight-init-scale",
        severity=Severity.INFO,
        message="100% of the gain comes from one layer,\nsee: head",
        module=None,
        file=None,
        line=None,
        numbers={"share": 1.0},
    ),
    Finding(
        rule="MC202",
        name="library-layer-scale",
        severity=Severity.INFO,
        message="nn.Linear default init is not variance preserving",
        module="head",
        file=LIBRARY,
        line=99,
        probe=ProbeVerdict.NOT_CONFIRMED,
    ),
)

MIXED = ModelReport(
    file=DEEP,
    model="DeepMLP",
    metrics=Metrics(forward_gain=1.3, backward_gain=5e-30, lipschitz_upper_bound=310.0),
    findings=FINDINGS,
    tracer="export",
    num_parameters=950,
    input_source="inferred from the first layer: Linear(64) -> (B, 64)",
    notes=("fx failed: data-dependent control flow; used torch.export",),
    profile=profile(),
    suppressed=2,
)

BROKEN = ModelReport(
    file="examples/broken.py",
    model="Broken",
    status="error",
    error=ErrorInfo(
        code="constructor",
        message="Broken() needs arguments: hidden",
        traceback="Traceback (most recent call last):\n  ...\nTypeError: missing hidden",
    ),
)

NONFINITE = ModelReport(
    file="examples/exploding.py",
    model="Exploding",
    metrics=Metrics(forward_gain=math.inf, backward_gain=math.nan, lipschitz_upper_bound=None),
    findings=(
        Finding(
            rule="MC302",
            name="depth-signal-exploding",
            severity=Severity.ERROR,
            message="activations overflow",
            module="blocks",
            file="examples/exploding.py",
            line=8,
            numbers={"forward_gain": math.inf, "ratio": -math.inf, "odd": math.nan},
        ),
    ),
    tracer="hooks",
    lipschitz_reason="softmax attention",
    profile=profile(6, measured=True),
)

SKIPPED = FileMessage(
    file="examples/configurable.py",
    severity=Severity.INFO,
    message="skipped class Configurable: its constructor needs arguments (set them in [tool.modelcheck])",
)

FULL = RunReport(models=(CLEAN, MIXED, BROKEN, NONFINITE), messages=(SKIPPED,))


DOC = """Flags networks whose gradient vanishes over depth at initialization.

## What it does
Predicts the backward gain of the network from its initial weights.

## Why is this bad?
A gradient that shrinks by 10x per layer never reaches the first layers.

## Example
```python
nn.Sequential(*[nn.Linear(64, 64) for _ in range(30)])
```

## Use instead
Residual connections.

## References
- [Glorot and Bengio 2010](https://proceedings.mlr.press/v9/glorot10a.html)
"""


def _check(graph: object) -> list[Violation]:
    return []


def fake_rule(
    code: str = "MC301",
    name: str = "depth-gradient-vanishing",
    *,
    severity: Severity = Severity.ERROR,
    doc: str = DOC,
) -> Rule:
    return Rule(
        code=code,
        name=name,
        severity=severity,
        check=_check,
        requires=("signal",),
        doc=doc,
        origin="modelcheck_rules.signal.depth_gradient_vanishing",
    )


RULES = {
    r.code: r
    for r in (
        fake_rule(),
        fake_rule(
            "MC102",
            "norm-after-residual",
            severity=Severity.WARNING,
            doc="## What it does\nFinds post-norm residual blocks.\n",
        ),
        fake_rule("MC201", "weight-init-scale", severity=Severity.INFO, doc=""),
    )
}
