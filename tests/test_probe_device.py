"""Device selection for the probe: automatic (cuda > mps > cpu), forced, and clear errors."""

from __future__ import annotations

import pytest
import torch

from modelcheck.errors import UsageError
from modelcheck.probe import device as dev


@pytest.fixture
def no_accelerators(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dev, "_mps_available", lambda: False)


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch: pytest.MonkeyPatch, cuda: bool, mps: bool,
                                             expected: str) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(dev, "_mps_available", lambda: mps)
    for requested in (None, "auto", ""):
        assert dev.select_device(requested).type == expected


def test_auto_cuda_names_the_current_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    assert dev.select_device(None) == torch.device("cuda", 1)


def test_forced_cpu_even_when_cuda_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert dev.select_device("cpu") == torch.device("cpu")


@pytest.mark.usefixtures("no_accelerators")
@pytest.mark.parametrize("requested", ["cuda", "cuda:0", "mps"])
def test_missing_accelerator_is_a_usage_error(requested: str) -> None:
    with pytest.raises(UsageError, match="not available"):
        dev.select_device(requested)


@pytest.mark.parametrize("requested", ["tpu9", "not a device"])
def test_unknown_device_is_a_usage_error(requested: str) -> None:
    with pytest.raises(UsageError):
        dev.select_device(requested)


def test_cuda_index_beyond_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(UsageError, match="only 1"):
        dev.select_device("cuda:3")


def test_describe(monkeypatch: pytest.MonkeyPatch) -> None:
    assert dev.describe_device(torch.device("cpu")) == "cpu"
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: "NVIDIA H100")
    assert dev.describe_device(torch.device("cuda", 0)) == "cuda:0 (NVIDIA H100)"
