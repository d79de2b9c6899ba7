"""A scale written ``1 + w`` (Gemma's RMSNorm) with ``w`` zero-initialised is a unit scale, not a zero one.

The offset is read from the norm's ``forward`` source (never from its class name), and the zero-init pass
does not take a parameter that reaches a multiply through ``c + w`` for a zero gate.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from modelcheck.layers import module_spec, weight_offset
from modelcheck.passes import PassContext, run_passes
from modelcheck.passes.facts import ZERO_INIT
from modelcheck.trace.tracers import trace_model
from tests.models.mc202_good_offset_scale import OffsetScaleNet, ShiftedScaleNorm, UnitOffsetRMSNorm
from tests.zoo import ZOO, lint_cli, write_model


class PlainRMSNorm(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.eps, self.weight = 1e-6, nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class MinusHalfRMSNorm(PlainRMSNorm):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * (self.weight.float() - 0.5)


def test_weight_offset_read_from_the_source() -> None:
    assert weight_offset(UnitOffsetRMSNorm) == 1.0
    assert weight_offset(MinusHalfRMSNorm) == -0.5
    assert weight_offset(PlainRMSNorm) == 0.0  # `+ self.eps` is not added to the weight
    assert module_spec(UnitOffsetRMSNorm(8))[1]["weight_offset"] == 1.0
    assert "weight_offset" not in module_spec(PlainRMSNorm(8))[1]


def test_offset_parameters_are_not_zero_gates() -> None:
    torch.manual_seed(0)
    model = OffsetScaleNet().train()
    inputs = (torch.randn(8, 32),)
    graph = trace_model(model, inputs)
    run_passes(graph, [ZERO_INIT], PassContext(inputs=inputs, model=model))
    assert graph.facts[ZERO_INIT].layers == ()


def test_a_zero_gate_without_offset_is_still_one() -> None:
    """The same traced-through norm with ``* self.gain`` (no offset) is a zero scale, and the pass says so."""

    class ZeroGateNorm(ShiftedScaleNorm):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + x * self.gain

    model = nn.Sequential(nn.Linear(8, 8), ZeroGateNorm(8), nn.Linear(8, 4))
    inputs = (torch.randn(4, 8),)
    graph = trace_model(model, inputs)
    run_passes(graph, [ZERO_INIT], PassContext(inputs=inputs, model=model))
    assert [z.role for z in graph.facts[ZERO_INIT].layers] == ["gate"]


@pytest.mark.parametrize("name", ["gemma"])
def test_transformers_gemma_gets_no_zero_scale_findings(name: str, tmp_path: Path) -> None:
    entry = next(e for e in ZOO if e.name == name)
    _, report = lint_cli([write_model(entry, tmp_path)], out=tmp_path / "r.json")
    (m,) = report["models"]
    assert m["status"] == "ok", m.get("error")
    codes = [f["rule"] for f in m["findings"]]
    assert "MC202" not in codes and "MC206" not in codes, m["findings"]
    assert m["metrics"]["forward_gain"] and m["metrics"]["forward_gain"] > 1e-2
