"""Where the probe runs: ``--device`` or the best available accelerator (cuda, then mps, then cpu)."""

from __future__ import annotations

import torch

from modelcheck.errors import UsageError


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def select_device(requested: str | None = None) -> torch.device:
    """The device to train on. ``None``/``"auto"`` picks cuda, else mps, else cpu.

    An explicit device that this machine lacks is a usage error (not a silent CPU fallback: the user asked
    for timings or numerics on that device).
    """
    if requested is None or requested.strip().lower() in ("", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested.strip())
    except (RuntimeError, ValueError) as exc:
        raise UsageError(f"unknown --device {requested!r}", hint="use cpu, cuda, cuda:N or mps") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"--device {requested} requested but CUDA is not available")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        elif device.index >= torch.cuda.device_count():
            raise UsageError(f"--device {requested}: only {torch.cuda.device_count()} CUDA device(s)")
    elif device.type == "mps" and not _mps_available():
        raise UsageError(f"--device {requested} requested but MPS is not available")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise UsageError(f"--device {requested}: the probe supports cpu, cuda and mps")
    return device


def describe_device(device: torch.device) -> str:
    """``"cpu"``, ``"mps"`` or ``"cuda:0 (NVIDIA H100 80GB HBM3)"``."""
    if device.type == "cuda":
        index = device.index if device.index is not None else 0
        try:
            name = torch.cuda.get_device_name(index)
        except Exception:  # a mocked or vanished device still gets a label
            name = "unknown GPU"
        return f"cuda:{index} ({name})"
    return device.type


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels (timings only; the probe itself syncs by reading numbers)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.synchronize()
