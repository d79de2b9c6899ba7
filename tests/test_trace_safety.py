"""Tracing leaves the model as it found it, works on the meta device and without inputs, and fails
with one actionable line."""

from __future__ import annotations

import pytest
import torch
from models.trace_fixtures import build, snapshot
from torch import nn

from modelcheck.errors import TraceError, UsageError
from modelcheck.ir import Op
from modelcheck.trace.tracers import TRACERS, trace_model


@pytest.mark.parametrize("tracer", [*TRACERS, None])
def test_parameters_and_buffers_untouched(tracer: str | None) -> None:
    model, inputs, sites = build("SmallCNN")
    before = snapshot(model)
    trace_model(model, inputs, sites=sites, prefer=tracer)
    after = snapshot(model)
    assert before.keys() == after.keys()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert not changed, changed
    assert int(model.bn1.num_batches_tracked) == 0


def test_modes_and_rng_restored() -> None:
    model, inputs, sites = build("SmallCNN")
    model.eval()
    model.bn2.train()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    g = trace_model(model, inputs, sites=sites, prefer="hooks")
    assert torch.equal(torch.rand(3), expected)
    assert not model.training and model.bn2.training and not model.bn1.training
    assert g.training is False
    assert [n.attrs["training"] for n in g.of(Op.NORM)] == [False, True]


@pytest.mark.parametrize("tracer", TRACERS)
def test_meta_device(tracer: str) -> None:
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.LayerNorm(16), nn.Linear(16, 4))
    g = trace_model(model, (torch.empty(5, 8, device="meta"),), prefer=tracer)
    assert [n.op for n in g.nodes] == [Op.INPUT, Op.LINEAR, Op.ACTIVATION, Op.NORM, Op.LINEAR, Op.OUTPUT]
    assert g.nodes[-2].meta is not None and g.nodes[-2].meta.shape == (5, 4)
    assert all(t.is_meta for t in g.parameters.values())


def test_without_inputs_traces_symbolically() -> None:
    model, _, sites = build("LSTMTagger")
    g = trace_model(model, None, sites=sites)
    assert g.tracer == "fx" and any("without shapes" in n for n in g.notes)
    assert [n.op for n in g.nodes] == [Op.INPUT, Op.EMBEDDING, Op.RECURRENT, Op.SPLIT, Op.LINEAR, Op.OUTPUT]
    assert all(n.meta is None for n in g.nodes)


def test_without_inputs_and_untraceable() -> None:
    model, _, _ = build("DataBranch")
    with pytest.raises(TraceError, match="needs example inputs"):
        trace_model(model, None)


def test_unknown_tracer() -> None:
    model, inputs, _ = build("KaimingMLP")
    with pytest.raises(UsageError):
        trace_model(model, inputs, prefer="jit")


class Broken(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.view(3, 5))


def test_all_tracers_fail() -> None:
    with pytest.raises(TraceError) as info:
        trace_model(Broken(), (torch.randn(2, 4),))
    msg = str(info.value)
    assert "\n" not in msg and all(label in msg for label in ("torch.fx", "torch.export", "forward hooks"))
    assert "test_trace_safety.py" in msg  # where the forward failed


def test_tied_weights_use_the_first_name() -> None:
    from models.trace_fixtures import HERE, load

    gpt = load(HERE / "trace_gpt.py").GPT(layers=1, d=16, heads=2, vocab=20, ctx=8)
    g = trace_model(gpt, (torch.zeros(2, 4, dtype=torch.long),))
    head = next(n for n in g.of(Op.LINEAR) if n.module_path == "head")
    assert head.params == {"weight": "wte.weight"} and "head.weight" not in g.parameters
    assert g.param(head) is gpt.wte.weight


@pytest.mark.parametrize("tracer", TRACERS)
def test_forward_that_writes_state(tracer: str) -> None:
    model, inputs, sites = build("Stateful")
    before, attrs = snapshot(model), dict(vars(model))
    g = trace_model(model, inputs, sites=sites, prefer=tracer)
    after = snapshot(model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert dict(vars(model)) == attrs  # no Proxy, constant or attribute left behind
    assert all(type(b) is torch.Tensor for b in g.buffers.values())


def test_torchscript_submodule_is_one_node() -> None:
    model, inputs, sites = build("Scripted")
    g = trace_model(model, inputs, sites=sites)
    (gate,) = [n for n in g.nodes if n.module_path == "gate"]
    assert gate.op is Op.OTHER and "TorchScript" in gate.attrs["note"] and set(gate.params) == {"fc.weight", "fc.bias"}
    hooks = trace_model(model, inputs, sites=sites, prefer="hooks")  # cannot hook it: said so
    assert any("gate" in n and "cannot be hooked" in n for n in hooks.notes)


@pytest.mark.parametrize("tracer", TRACERS)
def test_parametrized_weights_are_readable(tracer: str) -> None:
    model, inputs, sites = build("Parametrized")
    g = trace_model(model, inputs, sites=sites, prefer=tracer)
    a, b = g.of(Op.LINEAR)
    assert (a.params["weight"], b.params["weight"]) == ("a.weight", "b.weight")
    assert "a.weight" not in g.parameters  # computed, not a parameter: published as a buffer
    assert torch.allclose(g.param(a), model.a.weight)
    assert [n.op for n in g.nodes] == [Op.INPUT, Op.LINEAR, Op.ACTIVATION, Op.LINEAR, Op.OUTPUT]
