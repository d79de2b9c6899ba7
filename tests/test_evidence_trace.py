"""Evidence without a check forward (issue 11): explicit inputs and no norm to observe, so the trace's
own forward is the one measured — fx's live lowering, or the real run after an export/hooks trace —
and the model still runs once."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from modelcheck import capture
from modelcheck.errors import TraceError
from modelcheck.trace.tracers import trace_model
from tests.zoo import lint_cli, only_model

# As tests/test_evidence.py's SignMLP (torch.sign is a map the signal pass does not model, so the
# prediction explodes while the signal stays bounded), with a 2048-wide layer that puts it over the
# backward size rule's parameter count (capture.BACKWARD_MAX_PARAMETERS) and explicit example inputs:
# no check forward runs. Its output is sign(.) = +-1, so its measured forward gain is 1 / rms(x).
BIG_SIGN_MLP = textwrap.dedent('''
    import torch
    from torch import nn


    class BigSignMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.wide = nn.Sequential(nn.Linear(64, 2048), nn.Linear(2048, 2048), nn.Linear(2048, 64))
            # biases alternate: not a stack of identical blocks, which fx traces cut to three (no forward)
            self.layers = nn.ModuleList(nn.Linear(64, 64, bias=i % 2 == 0) for i in range(12))
            for lin in self.layers:
                nn.init.normal_(lin.weight)

        def forward(self, x):
            x = self.wide(x)
            for lin in self.layers:
                x = torch.sign(lin(x))
            return x


    def example_inputs():
        return (3.0 * torch.randn(8, 64, generator=torch.Generator().manual_seed(0)),)
''')


def _x() -> torch.Tensor:
    return 3.0 * torch.randn(8, 64, generator=torch.Generator().manual_seed(0))


def _rms(t: torch.Tensor) -> float:
    return float(t.double().pow(2).mean().sqrt())


@pytest.fixture()
def big_sign(tmp_path: Path) -> Path:
    path = tmp_path / "big_sign.py"
    path.write_text(BIG_SIGN_MLP)
    return path


@pytest.mark.parametrize("tracer", ["fx", "hooks"])
def test_explicit_inputs_without_norms_are_measured(big_sign: Path, tmp_path: Path, tracer: str) -> None:
    _, report = lint_cli([big_sign], "--tracer", tracer, out=tmp_path / "r.json")
    m = only_model(report)
    assert m["tracer"] == tracer and m["num_parameters"] > capture.BACKWARD_MAX_PARAMETERS
    measured = m["measured_metrics"]
    assert measured["forward_gain"] == pytest.approx(1.0 / _rms(_x()), rel=1e-5)  # SPEC §2, directly
    assert measured.get("backward_gain") is None  # forward only: the size rule says no backward
    assert m["metrics"]["forward_gain"] > 1e4
    # the prediction the measurement contradicts is not an error
    (f,) = [f for f in m["findings"] if f["rule"] == "MC304"]
    assert f["severity"] == "warning"
    assert "measured forward gain" in f["message"] and "first at sign" in f["message"]


def test_text_report_prints_measured_beside_predicted(big_sign: Path) -> None:
    from typer.testing import CliRunner

    from modelcheck.cli import app

    out = CliRunner().invoke(app, ["lint", str(big_sign)], env={"COLUMNS": "200"}).output
    assert re.search(r"forward gain \S+ \(measured \S+\)", out), out


def test_dropout_in_the_training_mode_trace_is_not_reported(tmp_path: Path) -> None:
    # fx's lowering runs in training mode: its dropout is not the check forward's eval one
    path = tmp_path / "big_sign_dropout.py"
    path.write_text(BIG_SIGN_MLP.replace("x = torch.sign(lin(x))",
                                         "x = torch.nn.functional.dropout(torch.sign(lin(x)), 0.1)"))
    _, report = lint_cli([path], out=tmp_path / "r.json")
    m = only_model(report)
    assert m["tracer"] == "fx" and "measured_metrics" not in m
    assert [f["severity"] for f in m["findings"] if f["rule"] == "MC304"] == ["error"]


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.bn, self.b = nn.Linear(16, 32), nn.BatchNorm1d(32), nn.Linear(32, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.tanh(self.bn(self.a(x)))) * 2.0


def test_fx_lowering_measures_its_one_forward() -> None:
    torch.manual_seed(0)
    model = _Net().train()
    x = torch.randn(6, 16)
    runs = {"root": 0, "leaf": 0}
    hooks = [model.register_forward_pre_hook(lambda *_: runs.__setitem__("root", runs["root"] + 1)),
             model.a.register_forward_pre_hook(lambda *_: runs.__setitem__("leaf", runs["leaf"] + 1))]
    got = capture.Measurement(backward=True)
    graph = trace_model(model, (x,), prefer="fx", measure=got)
    for h in hooks:
        h.remove()
    assert graph.tracer == "fx"
    assert runs == {"root": 0, "leaf": 1}  # the lowering's forward, nothing more
    with torch.no_grad():  # SPEC §2: training mode (BatchNorm on batch statistics), at the inputs
        bn_in = model.a(x)
        y = model(x)
    assert got.forward_gain == pytest.approx(_rms(y) / _rms(x), rel=1e-5)
    assert got.module_input_rms["bn"] == pytest.approx(_rms(bn_in), rel=1e-5)
    assert set(got.module_input_rms) == {"a", "bn", "b"}
    assert not got.backward and got.backward_gain is None


def test_a_failed_fx_lowering_leaves_no_measurement() -> None:
    class Picky(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.a(x) @ x  # (2, 4) @ (2, 4): fails live, after the leaf ran

    got = capture.Measurement()
    with pytest.raises(TraceError):
        trace_model(Picky(), (torch.randn(2, 4),), prefer="fx", measure=got)
    assert got.input_rms is None and got.output_rms is None and not got.module_input_rms
    assert got.forward_gain is None


# Real calls of the root and of its first leaf, written to a file (the lint runs in a worker process).
COUNTED = textwrap.dedent('''
    import torch
    from torch import nn

    TALLY = {tally!r}


    def _count(what):
        with open(TALLY, "a") as f:
            f.write(what + "\\n")


    class Counted(nn.Module):
        def __init__(self):
            super().__init__()
            self.first = nn.Linear(64, {width})
            self.rest = nn.Sequential(nn.Tanh(), nn.Linear({width}, {width}), nn.Tanh(), nn.Linear({width}, 8))
            self.register_forward_pre_hook(lambda m, a: _count("root"))
            self.first.register_forward_pre_hook(lambda m, a: _count("leaf"))

        def forward(self, x):
            return self.rest(self.first(x))


    def example_inputs():
        return (torch.randn(8, 64, generator=torch.Generator().manual_seed(0)),)
''')


@pytest.mark.parametrize(("width", "root", "backward"), [(2100, 0, False), (64, 1, True)])
def test_the_model_runs_once(tmp_path: Path, width: int, root: int, backward: bool) -> None:
    # over the size rule: fx's lowering is the only forward (the root is never called, its first leaf once);
    # under it: the check forward, with its backward, is the one measured (fx's lowering still runs the
    # leaves for shapes, as it did before)
    tally = tmp_path / "tally.txt"
    path = tmp_path / "counted.py"
    path.write_text(COUNTED.format(tally=str(tally), width=width))
    _, report = lint_cli([path], out=tmp_path / "r.json")
    m = only_model(report)
    assert m["tracer"] == "fx"
    calls = tally.read_text().split()
    assert calls.count("root") == root
    assert calls.count("leaf") == 1 + root
    measured = m["measured_metrics"]
    assert measured["forward_gain"] > 0
    assert (measured.get("backward_gain") is not None) is backward
