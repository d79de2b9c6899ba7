"""The measured backward gain, from the forward the input check already runs (issue 11): one VJP where
the size rule calls the backward cheap, x as SPEC §2 defines it (the embedding output for token ids),
never a number beyond float32, and findings on the gradient weighed against it."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from modelcheck import capture
from modelcheck.engine import evidence
from modelcheck.load import inputs as example
from tests.gains import CountingMLP
from tests.zoo import lint_cli

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "models"


def _rms(t: torch.Tensor) -> float:
    return float(t.detach().double().pow(2).mean().sqrt())


def _u(y: torch.Tensor) -> torch.Tensor:
    return torch.randn(tuple(y.shape), generator=torch.Generator().manual_seed(0))


def test_backward_gain_rides_on_the_check_forward() -> None:
    torch.manual_seed(0)
    model, x = CountingMLP(), torch.randn(4, 8)
    got = capture.Measurement(backward=True)
    example.forward(model, (x,), "test", "", (), None, got)
    assert model.calls == 1  # no second forward
    assert not x.requires_grad and x.grad is None  # the caller's tensor is untouched
    xr = x.clone().requires_grad_(True)
    y = model.eval()(xr)
    (g,) = torch.autograd.grad((y * _u(y)).sum(), xr)
    assert got.backward_gain == pytest.approx(_rms(g) / _rms(_u(y)), rel=1e-5)
    assert set(got.module_grad_rms) == {"a", "b"}
    assert all(p.grad is None for p in model.parameters())  # only dL/dx was taken


class _Tokens(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb, self.fc = nn.Embedding(50, 16), nn.Linear(16, 16)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.fc(self.emb(ids))) * 0.5


def test_token_ids_measure_from_the_embedding_output() -> None:
    torch.manual_seed(0)
    model, ids = _Tokens(), torch.randint(0, 50, (2, 6))
    got = capture.Measurement(backward=True)
    example.forward(model, (ids,), "test", "", (), None, got)
    e = model.emb(ids).detach().requires_grad_(True)
    y = torch.tanh(model.fc(e)) * 0.5
    (g,) = torch.autograd.grad((y * _u(y)).sum(), e)
    assert got.forward_gain == pytest.approx(_rms(y) / _rms(e), rel=1e-5)
    assert got.backward_gain == pytest.approx(_rms(g) / _rms(_u(y)), rel=1e-5)


def _meta_parameters(name: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.syspath_prepend(str(BENCH.parent))  # the benchmarks' own loader, as run.py uses it
    from lint_speed import first_model, load_file

    with torch.device("meta"):
        return sum(p.numel() for p in first_model(load_file(BENCH / f"{name}.py"))().parameters())


@pytest.mark.parametrize(("name", "cheap"), [("gpt2_small", False), ("resnet50", False), ("mlp_10", True)])
def test_size_rule_spares_the_speed_benchmarks(name: str, cheap: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    assert capture.backward_is_cheap(_meta_parameters(name, monkeypatch)) is cheap
    assert not capture.backward_is_cheap(10, meta=True)  # never on meta


def test_activation_budget_skips_the_backward(monkeypatch: pytest.MonkeyPatch) -> None:
    model, x = CountingMLP(), torch.randn(4, 8)
    monkeypatch.setattr(capture, "BACKWARD_MAX_ACTIVATIONS", 8)  # 4x8 inputs to each of a and b: over it
    got = capture.Measurement(backward=True)
    example.forward(model, (x,), "test", "", (), None, got)
    assert got.forward_gain is not None and got.backward_gain is None and got.activations == 64


class _Scale(torch.autograd.Function):
    """Identity forward; the backward multiplies the gradient by ``s`` (a gradient-scaling layer)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, s: float) -> torch.Tensor:  # type: ignore[override]
        ctx.s = s
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return g * ctx.s, None


class _Overflow(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(_Scale.apply(_Scale.apply(x, 1e30), 1e30))


def test_a_gradient_beyond_float32_is_never_a_measured_number() -> None:
    got = capture.Measurement(backward=True)
    example.forward(_Overflow(), (torch.randn(4, 8),), "test", "", (), None, got)
    assert got.forward_gain is not None and 0 < got.forward_gain < 10
    metrics = evidence.measured_metrics(got)
    assert metrics is not None and metrics.backward_gain == float("inf")


class _NeedsNoGrad(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)
        scale = float(h.abs().numpy().max())  # raises under grad: .numpy() on a tensor that requires grad
        return h / scale


def test_a_forward_that_cannot_run_with_grad_still_checks_the_inputs() -> None:
    got = capture.Measurement(backward=True)
    example.forward(_NeedsNoGrad(), (torch.randn(4, 8),), "test", "", (), None, got)
    assert got.forward_gain is not None and got.backward_gain is None


# The signal pass cannot see into a custom autograd.Function: it takes this gradient-scaling layer
# (identity forward, gradient x10) for the identity, so it predicts the 8 tanh layers' gradient
# vanishing (MC103, an error) while the measured backward gain is ~1e7 and the forward agrees.
GRAD_SCALE = textwrap.dedent('''
    import torch
    from torch import nn


    class GradScale(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.view_as(x)

        @staticmethod
        def backward(ctx, g):
            return g * 10


    class GradScaleMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList(nn.Linear(64, 64) for _ in range(8))
            self.norm = nn.LayerNorm(64)

        def forward(self, x):
            for lin in self.layers:
                x = GradScale.apply(torch.tanh(lin(x)))
            return self.norm(x)


    def example_inputs():
        return (torch.randn(8, 64, generator=torch.Generator().manual_seed(0)),)
''')


def test_a_gradient_finding_is_weighed_against_the_measured_backward(tmp_path: Path) -> None:
    path = tmp_path / "grad_scale.py"
    path.write_text(GRAD_SCALE)
    _, report = lint_cli([path], out=tmp_path / "r.json")
    (m,) = report["models"]
    measured, predicted = m["measured_metrics"], m["metrics"]
    assert abs(measured["forward_gain"] / predicted["forward_gain"] - 1) < 0.1  # the forward agrees
    assert measured["backward_gain"] > 1e3 * predicted["backward_gain"]
    (f,) = [f for f in m["findings"] if f["rule"] == "MC103"]
    assert f["severity"] == "warning"
    assert "measured backward gain" in f["message"] and "first at" in f["message"]
    assert f["numbers"]["measured_backward_gain"] == pytest.approx(measured["backward_gain"])


def test_text_report_prints_the_measured_backward_beside_the_predicted(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from modelcheck.cli import app

    path = tmp_path / "grad_scale.py"
    path.write_text(GRAD_SCALE)
    out = CliRunner().invoke(app, ["lint", str(path)], env={"COLUMNS": "200"}).output
    assert re.search(r"forward gain \S+ \(measured \S+\) · backward gain \S+ \(measured \S+\)", out), out


def _finding(rule: str, **numbers: float) -> Any:
    from modelcheck.diagnostics import Finding, Severity

    return Finding(rule=rule, name=rule.lower(), severity=Severity.ERROR, message="predicted", numbers=numbers)


def test_each_finding_is_weighed_against_the_gain_it_rests_on() -> None:
    from modelcheck.diagnostics import Metrics
    from modelcheck.ir import Graph

    graph = Graph([], tracer="fx", parameters={}, modules={})
    predicted = Metrics(forward_gain=1.0, backward_gain=1e-5)
    # the forward is 100x off the prediction, the backward agrees with it
    seen = capture.Measurement(input_rms=1.0, output_rms=100.0, input_grad_rms=2e-5, cotangent_rms=1.0)
    out = evidence.weigh([_finding("MC303", backward_gain=1e-5), _finding("MC301"), _finding("MC304", forward_gain=1.0)],
                         graph, predicted, seen)
    assert [f.severity.value for f in out] == ["error", "error", "warning"]
    assert "measured forward gain" in out[2].message
    # without a measured backward, a gradient finding falls back on the forward (the prediction is off)
    seen.input_grad_rms = None
    out = evidence.weigh([_finding("MC303", backward_gain=1e-5), _finding("MC301")], graph, predicted, seen)
    assert [f.severity.value for f in out] == ["warning", "warning"]
    # the backward 1000x off, the forward right: only the gradient findings become warnings
    seen.output_rms, seen.input_grad_rms = 1.0, 1e-2
    out = evidence.weigh([_finding("MC301"), _finding("MC304", forward_gain=1.0)], graph, predicted, seen)
    assert [f.severity.value for f in out] == ["warning", "error"]
    assert "measured backward gain" in out[0].message and out[0].numbers["measured_backward_gain"] == 1e-2


def test_a_wrong_input_fails_once_with_its_own_error() -> None:
    from modelcheck.errors import InputError

    model = CountingMLP()
    with pytest.raises(InputError):
        example.forward(model, (torch.randn(4, 5),), "test", "", (), None, capture.Measurement(backward=True))
    assert model.calls == 1  # not retried without grad: a shape error is not the grad's doing
