"""The THEORY §6 decision table, row by row, on hand-made evidence (no training)."""

from __future__ import annotations

import math

import pytest

from modelcheck.diagnostics import Finding, ProbeVerdict, Severity
from modelcheck.probe.records import GainPoint, NonFinite, Symptoms
from modelcheck.probe.verdicts import Evidence, judge

FALLING = tuple(1.0 - 0.01 * t for t in range(50))
FLAT = (1.0,) * 50


def ev(**kw: object) -> Evidence:
    base: dict = dict(steps=50, losses=FALLING, final_loss=0.5, gains=(GainPoint(0, 1.0, 1.0, 0.0, 0.0),),
                      rel_update={"a": 1e-2, "b": 1e-2, "c": 1e-2}, first_layer="a", nonfinite=None)
    base.update(kw)
    return Evidence(**base)


def gains(*points: tuple[int, float, float]) -> tuple[GainPoint, ...]:
    return tuple(GainPoint(s, f, b, max(0.0, -math.log10(b)), max(0.0, math.log10(b))) for s, f, b in points)


def verdict(name: str, evidence: Evidence, severity: Severity = Severity.WARNING, module: str | None = None,
            numbers: dict | None = None) -> tuple[bool, str]:
    f = judge(Finding("MC1", name, severity, "msg", module=module, numbers=numbers or {}), evidence)
    assert f.message.startswith("msg [probe: ") and f.message.endswith("]")
    return f.probe is ProbeVerdict.CONFIRMED, f.message


CASES = [
    # (rule name, severity, evidence, confirmed, text in message)
    ("depth-gradient-vanishing", Severity.ERROR, ev(gains=gains((0, 1, 1e-6), (50, 1, 1e-6))), True, "still"),
    ("depth-gradient-vanishing", Severity.ERROR, ev(gains=gains((0, 1, 1e-6), (50, 1, 0.1))), False, "transient"),
    ("depth-gradient-vanishing", Severity.ERROR, ev(gains=gains((0, 1, 1e-3), (50, 1, 1e-3))), False,
     "short of the 4-decade vanishing threshold"),
    ("depth-gradient-vanishing", Severity.WARNING, ev(gains=gains((0, 1, 1e-3), (50, 1, 1e-3))), True, "gain 0.001"),
    ("depth-gradient-vanishing", Severity.ERROR,
     ev(gains=gains((0, 1, 1e-6), (50, 1, 0.1)), rel_update={"a": 1e-9, "b": 1e-2, "c": 1e-2}), True, "first layer"),
    ("saturating-activation", Severity.WARNING,
     ev(gains=gains((0, 1, 1e-3), (10, 1, 0.5))[:1], nonfinite=NonFinite(3, "loss", None, "loss became NaN at step 3")),
     True, "NaN"),
    ("depth-gradient-explosion", Severity.ERROR, ev(gains=gains((0, 1, 1e5), (50, 1, 1e5))), True, "1.0e+05"),
    ("depth-gradient-explosion", Severity.ERROR, ev(gains=gains((0, 1, 0.5), (50, 1, 0.5))), False,
     "explosion threshold"),
    ("signal-vanishing", Severity.ERROR, ev(gains=gains((0, 1e-5, 1), (50, 1e-5, 1))), True, "forward gain"),
    ("signal-explosion", Severity.WARNING, ev(gains=gains((0, 2.0, 1), (50, 2.0, 1))), False, "forward gain"),
    ("missing-skip-connection", Severity.WARNING, ev(losses=FLAT, final_loss=0.999,
                                                      gains=gains((0, 1, 1e-3))), True, "finite gradients"),
    ("missing-skip-connection", Severity.WARNING, ev(gains=gains((0, 1, 1e-3))), False, "loss fell 50%"),
    ("unnormalized-residual", Severity.ERROR, ev(gains=gains((0, 20, 1), (50, 400, 1))), True, "grew x20"),
    ("unnormalized-residual", Severity.ERROR, ev(gains=gains((0, 0.04, 1), (50, 0.5, 1))), False, "stays small"),
    ("unnormalized-residual", Severity.ERROR, ev(gains=gains((0, 20, 1), (50, 21, 1))), False, "stable"),
    ("post-ln-transformer", Severity.WARNING, ev(losses=(1.0, 0.5, 0.4, 1.5, 0.3)), True, "step 3"),
    ("post-ln-transformer", Severity.WARNING, ev(), False, "smooth"),
    ("bad-init-scale", Severity.WARNING, ev(rel_update={"a": 1e-2, "x.w": 1e-9}), True, "x.w did not move"),
    ("zero-init-symmetry", Severity.ERROR, ev(row_spread={"h": 0.0}, rel_update={"h": 1e-3}), True, "identical"),
    ("zero-init-symmetry", Severity.ERROR, ev(row_spread={"h": 0.3}, rel_update={"h": 1e-3}), False, "moved"),
    ("dead-relu-risk", Severity.WARNING,
     ev(symptoms=(Symptoms(0, relu_active={"r": 0.04}), Symptoms(50, relu_active={"r": 0.05}))), True, "5% of r"),
    ("dead-relu-risk", Severity.WARNING,
     ev(symptoms=(Symptoms(0, relu_active={"r": 0.04}), Symptoms(50, relu_active={"r": 0.4}))), False, "40%"),
    ("layernorm-eps-too-small", Severity.WARNING,
     ev(symptoms=(Symptoms(0), Symptoms(50, norm_row_std={"ln": (1e-8, 1e-5)}))), True, "sqrt(eps)"),
    ("layernorm-eps-too-small", Severity.WARNING,
     ev(symptoms=(Symptoms(0), Symptoms(50, norm_row_std={"ln": (1.0, 1e-5)}))), False, "sqrt(eps)"),
    ("unscaled-attention", Severity.WARNING,
     ev(symptoms=(Symptoms(0, attention_entropy={"att": 0.1}), Symptoms(50, attention_entropy={"att": 0.12}))),
     True, "0.12"),
    ("unscaled-attention", Severity.WARNING,
     ev(symptoms=(Symptoms(0), Symptoms(50, attention_entropy={"att": 0.8}))), False, "0.8"),
    ("no-such-rule", Severity.INFO, ev(), False, "no measurable symptom"),
    ("no-such-rule", Severity.INFO, ev(losses=FLAT, final_loss=1.01), True, "did not decrease"),
    ("no-such-rule", Severity.INFO, ev(nonfinite=NonFinite(2, "forward", "m", "loss became inf at step 2 in m")),
     True, "inf at step 2"),
]


@pytest.mark.parametrize(("name", "severity", "evidence", "confirmed", "text"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_decision_table(name: str, severity: Severity, evidence: Evidence, confirmed: bool, text: str) -> None:
    ok, message = verdict(name, evidence, severity)
    assert ok is confirmed, message
    assert text in message
    assert message.endswith(": confirmed]" if confirmed else ": not confirmed]")


def test_module_scoping_prefers_the_named_module() -> None:
    sym = (Symptoms(0), Symptoms(50, relu_active={"enc.relu": 0.5, "dec.relu": 0.01}))
    assert verdict("dead-relu-risk", ev(symptoms=sym), module="enc")[0] is False
    assert verdict("dead-relu-risk", ev(symptoms=sym), module="dec")[0] is True
    assert verdict("dead-relu-risk", ev(symptoms=sym), module=None)[0] is True  # model-wide minimum


def test_prediction_mismatch_is_reported_but_does_not_flip_the_verdict() -> None:
    ok, message = verdict("depth-gradient-vanishing", ev(gains=gains((0, 1, 1e-9), (50, 1, 1e-9))),
                          Severity.ERROR, numbers={"backward_gain": 1e-20})
    assert ok and "predicted 1.0e-20" in message


def test_depth_prediction_mismatch_is_said() -> None:
    ok, message = verdict("depth-gradient-vanishing", ev(gains=gains((0, 1, 1e-9), (50, 1, 1e-9))),
                          Severity.ERROR, numbers={"D": 2.0})
    assert ok and "(D=9) at step 0, predicted D=2" in message


def test_verdict_is_recorded_on_the_finding() -> None:
    f = Finding("MC301", "depth-gradient-vanishing", Severity.ERROR, "m", module="x", line=3)
    out = judge(f, ev(gains=gains((0, 1, 1e-9), (50, 1, 1e-9))))
    assert out.probe is ProbeVerdict.CONFIRMED and (out.rule, out.module, out.line) == ("MC301", "x", 3)
    assert f.probe is None  # the input is not mutated
