"""Same seed, same numbers: the probe is repeatable (and the seed matters)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn as nn

from modelcheck.probe import ProbeOptions, run_probe


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def build() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 32), nn.GELU(), nn.Dropout(0.1), nn.Linear(32, 32), nn.Tanh(),
                         nn.Linear(32, 4))


def numbers(seed: int) -> dict:
    example = (torch.arange(96, dtype=torch.float32).reshape(8, 12) / 96.0,)
    opts = ProbeOptions(steps=12, seed=seed, progress=False, sharpness_checks=2, log_every=5, device="cpu")
    result = run_probe(build(), example, None, (), opts)
    out = dataclasses.asdict(result)
    out.pop("seconds")
    return out


def test_same_seed_identical_numbers() -> None:
    a, b = numbers(0), numbers(0)
    assert a["steps"] == b["steps"] and a["gains"] == b["gains"]
    assert a["sharpness"] == b["sharpness"] and a["adam"] == b["adam"]
    assert a == b


def test_different_seed_different_run() -> None:
    a, b = numbers(0), numbers(1)
    assert [s["loss"] for s in a["steps"]] != [s["loss"] for s in b["steps"]]


def test_caller_rng_state_is_restored() -> None:
    model = build()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    run_probe(model, (torch.ones(4, 12),), None, (), ProbeOptions(steps=3, progress=False, device="cpu"))
    assert torch.equal(torch.rand(3), expected)
