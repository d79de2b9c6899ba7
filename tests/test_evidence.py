"""The forward that checks the example inputs, as evidence against the predictions (issue 11):
measured forward gain beside the predicted one, errors the measurement contradicts downgraded, no
second forward, and predictions alone under --meta."""

from __future__ import annotations

import math
import re
import textwrap
from pathlib import Path

import pytest
import torch

from modelcheck import capture
from modelcheck.load import inputs as example
from tests.gains import CountingMLP
from tests.zoo import lint_cli, only_model

# torch.sign is a map the signal pass does not model: it passes the predicted scale through, so 12
# N(0, 1)-initialised layers are predicted to explode while the measured signal stays bounded.
SIGN_MLP = textwrap.dedent('''
    import torch
    from torch import nn


    class SignMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList(nn.Linear(64, 64) for _ in range(12))
            for lin in self.layers:
                nn.init.normal_(lin.weight)

        def forward(self, x):
            for lin in self.layers:
                x = torch.sign(lin(x))
            return x
''')


@pytest.fixture()
def sign_mlp(tmp_path: Path) -> Path:
    path = tmp_path / "sign_mlp.py"
    path.write_text(SIGN_MLP)
    return path


def test_contradicted_error_becomes_a_warning_with_both_numbers(sign_mlp: Path, tmp_path: Path) -> None:
    code, report = lint_cli([sign_mlp], out=tmp_path / "r.json")
    m = only_model(report)
    assert code == 0
    assert m["metrics"]["forward_gain"] > 1e4
    measured = m["measured_metrics"]["forward_gain"]
    assert 0.1 < measured < 10
    (f,) = [f for f in m["findings"] if f["rule"] == "MC304"]
    assert f["severity"] == "warning"
    assert "measured forward gain" in f["message"] and "first at sign" in f["message"]
    assert f["numbers"]["measured_forward_gain"] == pytest.approx(measured)


def test_dropout_keeps_the_prediction_alone(tmp_path: Path) -> None:
    # the check forward runs in eval mode (no dropout) while the prediction is for training mode
    path = tmp_path / "sign_dropout.py"
    path.write_text(SIGN_MLP.replace("x = torch.sign(lin(x))", "x = torch.nn.functional.dropout(torch.sign(lin(x)), 0.1)"))
    _, report = lint_cli([path], out=tmp_path / "r.json")
    m = only_model(report)
    assert [f["severity"] for f in m["findings"] if f["rule"] == "MC304"] == ["error"]


def test_meta_predictions_stand_alone(sign_mlp: Path, tmp_path: Path) -> None:
    _, report = lint_cli([sign_mlp], "--meta", out=tmp_path / "r.json")
    m = only_model(report)
    assert "measured_metrics" not in m
    assert [f["severity"] for f in m["findings"] if f["rule"] == "MC304"] == ["error"]


def test_text_report_prints_measured_beside_predicted(sign_mlp: Path) -> None:
    from typer.testing import CliRunner

    from modelcheck.cli import app

    out = CliRunner().invoke(app, ["lint", str(sign_mlp)], env={"COLUMNS": "200"}).output
    assert re.search(r"forward gain \S+ \(measured \S+\)", out), out


def test_measurement_rides_on_the_check_forward() -> None:
    model = CountingMLP()
    x = torch.randn(4, 8)
    got = capture.Measurement()
    example.forward(model, (x,), "test", "", (), None, got)
    assert model.calls == 1
    with torch.no_grad():
        y = model(x)
    rms = lambda t: float(t.double().pow(2).mean().sqrt())  # noqa: E731
    assert got.forward_gain == pytest.approx(rms(y) / rms(x), rel=1e-6)
    assert set(got.module_input_rms) == {"a", "b"}
    assert got.module_input_rms["a"] == pytest.approx(rms(x), rel=1e-6)


def test_not_confirmed_findings_do_not_fail_the_run() -> None:
    from modelcheck.diagnostics import Finding, ModelReport, ProbeVerdict, RunReport, Severity
    from modelcheck.exitcode import ExitCode, exit_code

    f = Finding("MC303", "signal-vanishing", Severity.ERROR, "predicted")
    report = RunReport(models=(ModelReport("m.py", "M", findings=(f.with_(probe=ProbeVerdict.NOT_CONFIRMED),)),))
    assert exit_code(report) is ExitCode.OK
    report = RunReport(models=(ModelReport("m.py", "M", findings=(f.with_(probe=ProbeVerdict.CONFIRMED),)),))
    assert exit_code(report) is ExitCode.FINDINGS


def test_an_overflowed_layer_rms_is_no_observation() -> None:
    """A leaf input whose float32 RMS overflowed (inf) is skipped, not divided by: the next layer decides."""
    from types import SimpleNamespace

    from modelcheck.engine.evidence import first_divergence
    from modelcheck.ir import Node, Op
    from modelcheck.passes.facts import SIGNAL, SignalState

    x = Node("x", Op.INPUT, "x")
    x.facts[SIGNAL] = SignalState(1.0, 0.0, 1.0, 0.0)
    a = Node("a", Op.LINEAR, "Linear", (x,), module_path="a")
    a.facts[SIGNAL] = SignalState(1.0, 0.0, 1.0, 0.0)
    b = Node("b", Op.LINEAR, "Linear", (a,), module_path="b")
    seen = capture.Measurement(module_input_rms={"a": math.inf, "b": 10.0})
    got = first_divergence(SimpleNamespace(nodes=[x, a, b]), seen)  # type: ignore[arg-type]
    assert got is not None and got.observed == 10.0 and got.predicted == 1.0
