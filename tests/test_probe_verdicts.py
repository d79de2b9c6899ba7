"""End to end: the probe confirms what is real, refutes what is not, and names where NaN is born."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from modelcheck.diagnostics import Finding, ProbeVerdict, Severity
from modelcheck.probe import ProbeOptions, run_probe

FAST = dict(steps=20, progress=False, sharpness_checks=0, device="cpu")


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def finding(name: str, severity: Severity = Severity.ERROR, module: str | None = None) -> Finding:
    return Finding(rule="MC999", name=name, severity=severity, message="static prediction", module=module)


def mlp(depth: int, width: int, act: type[nn.Module], init: str) -> nn.Sequential:
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for _ in range(depth):
        lin = nn.Linear(width, width)
        if init == "normal":
            nn.init.normal_(lin.weight, 0.0, 1.0)
            nn.init.zeros_(lin.bias)
        elif init == "kaiming":
            nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
            nn.init.zeros_(lin.bias)
        layers += [lin, act()]
    return nn.Sequential(*layers, nn.Linear(width, 10))


def probe(model: nn.Module, *findings: Finding, width: int = 64, **options: object):
    torch.manual_seed(1)
    return run_probe(model, (torch.randn(16, width),), None, findings, ProbeOptions(**{**FAST, **options}))


def test_deep_sigmoid_vanishing_is_confirmed() -> None:
    result = probe(mlp(20, 64, nn.Sigmoid, "default"), finding("depth-gradient-vanishing"))
    (f, *extra) = result.findings
    assert f.probe is ProbeVerdict.CONFIRMED
    assert f.message.startswith("static prediction [probe: measured backward gain")
    assert f.message.endswith(": confirmed]") and "at step 20" in f.message
    assert result.metrics.backward_gain < 1e-4
    frozen = [x for x in extra if x.name == "probe-frozen-layers"]
    assert frozen and frozen[0].rule == "MC901" and "did not move" in frozen[0].message


def test_normal_init_relu_explosion_is_confirmed() -> None:
    result = probe(mlp(8, 64, nn.ReLU, "normal"), finding("depth-gradient-explosion"))
    f = result.findings[0]
    assert f.probe is ProbeVerdict.CONFIRMED, f.message
    assert result.metrics.backward_gain > 1e4 and result.gains[-1].backward_gain > 1e4


def test_vanishing_claim_on_a_healthy_kaiming_net_is_not_confirmed() -> None:
    result = probe(mlp(8, 64, nn.ReLU, "kaiming"), finding("depth-gradient-vanishing"),
                   finding("signal-explosion", Severity.WARNING))
    assert [f.probe for f in result.findings[:2]] == [ProbeVerdict.NOT_CONFIRMED] * 2
    assert "short of the 4-decade vanishing threshold: not confirmed]" in result.findings[0].message
    assert not any(f.name == "probe-frozen-layers" for f in result.findings)
    assert result.nonfinite is None


def test_unknown_rule_on_a_model_that_trains_has_no_symptom() -> None:
    result = probe(mlp(3, 32, nn.ReLU, "kaiming"), finding("some-future-rule", Severity.WARNING), width=32)
    f = result.findings[0]
    assert f.probe is ProbeVerdict.NOT_CONFIRMED and "no measurable symptom" in f.message
    assert result.losses[-1] < result.losses[0]


class Fragile(nn.Module):
    """sqrt(1e-7 - (s - 0.5001)^2) is defined only within 3e-4 of s's init; Adam's first update moves s
    by lr = 1e-3, so the next forward takes the square root of a negative number: NaN, born here."""

    def __init__(self) -> None:
        super().__init__()
        self.s = nn.Parameter(torch.tensor(0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sqrt(1e-7 - (self.s - 0.5 - 1e-4) ** 2)


class Stack(nn.Module):
    def __init__(self, third: nn.Module) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 8), third, nn.Linear(8, 2)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


def test_nan_is_caught_at_the_module_and_step_that_produced_it() -> None:
    torch.manual_seed(0)
    model = Stack(Fragile())
    result = probe(model, finding("some-future-rule", Severity.INFO), width=8)
    event = result.nonfinite
    assert event is not None and (event.step, event.module, event.where) == (1, "layers.3", "forward")
    nan = [f for f in result.findings if f.name == "probe-nonfinite"]
    assert len(nan) == 1 and nan[0].rule == "MC900" and nan[0].severity is Severity.ERROR
    assert nan[0].module == "layers.3" and nan[0].message == "loss became NaN at step 1 in layers.3"
    assert result.findings[0].probe is ProbeVerdict.CONFIRMED  # a NaN confirms any finding
    assert len(result.steps) == 2 and result.losses[0] == result.losses[0] and result.losses[1] != result.losses[1]
    # the update after a NaN is never taken, so the model's parameters are still finite
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())


class FunctionalNaN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.log(self.a(x) - 100.0))  # functional code in the root makes the NaN


def test_nan_from_functional_code_is_pinned_on_the_enclosing_module() -> None:
    torch.manual_seed(0)
    result = probe(FunctionalNaN(), width=4)
    assert result.nonfinite is not None and result.nonfinite.step == 0
    assert result.nonfinite.module == "(root)" and "in (root)" in result.nonfinite.detail


class ZeroSqrt(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.zeros(8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.sqrt(self.p * 0.0)  # finite forward, d sqrt(0) = inf * 0 = NaN backward


def test_nan_gradient_is_reported_with_its_layer() -> None:
    torch.manual_seed(0)
    result = probe(Stack(ZeroSqrt()), width=8)
    assert result.nonfinite is not None
    assert (result.nonfinite.where, result.nonfinite.module, result.nonfinite.step) == ("gradient", "layers.3", 0)


class TwoZeros(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp, self.h1, self.h2, self.out = nn.Linear(8, 16), nn.Linear(16, 16), nn.Linear(16, 16), nn.Linear(16, 2)
        for layer in (self.h1, self.h2):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.h2(torch.tanh(self.h1(torch.tanh(self.inp(x)))))))


def test_consecutive_zero_layers_are_frozen_and_confirmed() -> None:
    torch.manual_seed(0)
    result = probe(TwoZeros(), finding("zero-init-symmetry", Severity.ERROR, module="h1"), width=8)
    assert result.findings[0].probe is ProbeVerdict.CONFIRMED, result.findings[0].message
    frozen = next(f for f in result.findings if f.name == "probe-frozen-layers")
    assert "inp" in frozen.message and "h1" in frozen.message  # h1 has zero input gradient paths
