"""Measured gains and per-layer profile follow SPEC §2 exactly (checked against an independent VJP)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from modelcheck.ir import Graph, Node, Op
from modelcheck.passes.facts import SignalState
from modelcheck.probe import ProbeOptions, run_probe
from modelcheck.probe.gains import GainMeter
from modelcheck.probe.measure import LayerIndex

CPU = torch.device("cpu")
QUICK = dict(steps=2, progress=False, sharpness_checks=0, device="cpu")


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: threads only add contention on a shared CPU
    yield
    torch.set_num_threads(n)


def rms(t: torch.Tensor) -> float:
    return t.detach().double().pow(2).mean().sqrt().item()


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(32, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 8))


class TokenModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.tok = nn.Embedding(50, 16)
        self.pos = nn.Embedding(10, 16)  # the second lookup is not x
        self.proj = nn.Linear(16, 16)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.proj(torch.relu(self.tok(ids) + self.pos.weight[: ids.shape[1]]))


def independent_float(model: nn.Module, x: torch.Tensor, u: torch.Tensor) -> tuple[float, float]:
    x = x.clone().requires_grad_(True)
    y = model(x)
    (g,) = torch.autograd.grad((y * u).sum(), x)
    return rms(y) / rms(x), rms(g)


def test_float_input_gains_match_spec() -> None:
    model, x = mlp(), torch.randn(16, 32)
    meter = GainMeter(model.train(), (x,), LayerIndex.of(model), seed=0, device=CPU)
    m = meter.measure(0)
    fwd, bwd = independent_float(model, x, meter.u)
    assert m.x_source == "input[0]"
    assert m.point.forward_gain == pytest.approx(fwd, rel=1e-6)
    assert m.point.backward_gain == pytest.approx(bwd, rel=1e-6)


def test_token_input_gains_use_the_first_embedding_output() -> None:
    torch.manual_seed(1)
    model, ids = TokenModel().train(), torch.randint(0, 50, (4, 10))
    meter = GainMeter(model, (ids,), LayerIndex.of(model), seed=0, device=CPU)
    m = meter.measure(0)
    x = model.tok(ids).detach().requires_grad_(True)
    y = model.proj(torch.relu(x + model.pos.weight[:10]))
    (g,) = torch.autograd.grad((y * meter.u).sum(), x)
    assert m.x_source == "embedding:tok"
    assert m.point.forward_gain == pytest.approx(rms(y) / rms(x), rel=1e-6)
    assert m.point.backward_gain == pytest.approx(rms(g), rel=1e-6)


def test_run_probe_metrics_are_step_zero_gains() -> None:
    model, x = mlp(), torch.randn(64, 32)
    ref = mlp()  # same seed, same weights: the probe trains `model` in place
    result = run_probe(model, (x,), None, (), ProbeOptions(**QUICK))
    fwd, _ = independent_float(ref.train(), x, torch.randn(64, 8))
    assert result.metrics.forward_gain == pytest.approx(fwd, rel=1e-6)
    assert result.metrics.backward_gain == result.gains[0].backward_gain
    assert result.gains[0].step == 0 and result.gains[-1].step == 2


def test_profile_measures_each_layer_and_carries_the_prediction() -> None:
    model, x = mlp(), torch.randn(16, 32)
    ref = mlp().train()
    outs: dict[str, torch.Tensor] = {}
    for name in ("0", "2", "4"):
        ref.get_submodule(name).register_forward_hook(lambda m, a, o, n=name: outs.__setitem__(n, o))
    graph = Graph([Node("l0", Op.LINEAR, "Linear", module_path="0", module_type="Linear",
                        facts={"signal": SignalState(q=4.0, r=0.0, g=9.0)})],
                  tracer="fx", parameters={}, modules={})
    result = run_probe(model, (x,), graph, (), ProbeOptions(**QUICK))
    meter_u = torch.Generator().manual_seed(7919)  # GainMeter draws u from seed + 7919
    u = torch.randn((16, 8), generator=meter_u)
    xr = x.clone().requires_grad_(True)
    y = ref(xr)
    grads = torch.autograd.grad((y * u).sum(), [outs[n] for n in ("0", "2", "4")])
    rows = {r.label: r for r in result.profile}
    assert list(rows) == ["0", "2", "4"]
    for name, g in zip(("0", "2", "4"), grads):
        assert rows[name].measured_activation_rms == pytest.approx(rms(outs[name]), rel=1e-6)
        assert rows[name].measured_gradient_rms == pytest.approx(rms(g), rel=1e-5)
    assert rows["0"].activation_rms == pytest.approx(2.0) and rows["0"].gradient_rms == pytest.approx(3.0)
    assert rows["2"].activation_rms is None


def test_depth_statistic_is_scale_free() -> None:
    model, x = mlp(), torch.randn(16, 32)
    m = GainMeter(model.train(), (x,), LayerIndex.of(model), seed=0, device=CPU).measure(0)
    assert m.point.d_vanish is not None and m.point.d_explode is not None
    assert m.point.d_vanish < 1.0 and m.point.d_explode < 1.0  # shallow tanh net: no decade lost
    scaled = nn.Sequential(*[mod for mod in mlp()])
    with torch.no_grad():
        scaled[4].weight.mul_(1e3)  # scales y and every dL/dh by 1e3: G_rel unchanged
        scaled[4].bias.mul_(1e3)
    m2 = GainMeter(scaled.train(), (x,), LayerIndex.of(scaled), seed=0, device=CPU).measure(0)
    assert m2.point.d_vanish == pytest.approx(m.point.d_vanish, abs=1e-6)
    assert m2.point.backward_gain == pytest.approx(1e3 * m.point.backward_gain, rel=1e-5)


def test_sigmoid_stack_loses_decades() -> None:
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for _ in range(12):
        layers += [nn.Linear(32, 32), nn.Sigmoid()]
    model = nn.Sequential(*layers, nn.Linear(32, 4)).train()
    m = GainMeter(model, (torch.randn(8, 32),), LayerIndex.of(model), seed=0, device=CPU).measure(0)
    assert m.point.d_vanish > 4 and math.log10(m.point.backward_gain) < -4
