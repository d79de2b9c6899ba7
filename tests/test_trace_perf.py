"""Tracing cost: a GPT-2-small-sized model (12 layers, d=768) traces in well under two seconds of CPU
time on the meta device, and the cost grows linearly with depth."""

from __future__ import annotations

import time

import pytest
import torch
from models.trace_fixtures import HERE, load

from modelcheck.ir import Op
from modelcheck.trace.tracers import trace_model

GPT = load(HERE / "trace_gpt.py").GPT


def _cpu_seconds(layers: int, tracer: str | None = None) -> tuple[float, int]:
    with torch.device("meta"):
        model = GPT(layers=layers)
    ids = torch.zeros(2, 64, dtype=torch.long, device="meta")
    start = time.process_time()  # CPU time: robust to other jobs sharing the machine
    g = trace_model(model, (ids,), prefer=tracer)
    return time.process_time() - start, len(g.nodes)


def test_gpt2_small_sized_fx_trace_is_fast() -> None:
    _cpu_seconds(1)  # warm imports and first-call caches
    seconds, nodes = _cpu_seconds(12)
    assert seconds < 2.0, f"{seconds:.2f}s CPU for {nodes} nodes"


def test_cost_is_linear_in_depth() -> None:
    _, n1 = _cpu_seconds(1)
    t4, n4 = _cpu_seconds(4)
    t16, n16 = _cpu_seconds(16)
    assert n16 - n4 == 4 * (n4 - n1)  # a fixed number of nodes per block
    assert t16 < 8 * t4 + 0.5, (t4, t16)


@pytest.mark.slow
@pytest.mark.parametrize("tracer", ["export", "hooks"])
def test_gpt2_small_sized_other_tracers(tracer: str) -> None:
    _cpu_seconds(1, tracer)
    seconds, nodes = _cpu_seconds(12, tracer)
    assert seconds < 10.0, f"{tracer}: {seconds:.2f}s CPU for {nodes} nodes"


@pytest.mark.slow
def test_hf_gpt2_small_export() -> None:
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()
    cfg = transformers.GPT2Config(n_layer=12, n_embd=768, n_head=12)
    with torch.device("meta"):
        model = transformers.GPT2LMHeadModel(cfg)
    ids = torch.zeros(1, 32, dtype=torch.long, device="meta")
    start = time.process_time()
    g = trace_model(model, (ids,))
    seconds = time.process_time() - start
    assert g.tracer == "export" and len(g.of(Op.NORM)) == 25
    assert seconds < 15.0, f"{seconds:.2f}s CPU"
