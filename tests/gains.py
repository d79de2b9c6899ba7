"""SPEC §2 gains measured directly with autograd: the ground truth the predictions are tested against."""

from __future__ import annotations

import math

import torch
from torch import nn


def measure_gains(model: nn.Module, inputs: tuple[torch.Tensor, ...], seed: int = 0) -> tuple[float, float]:
    """(forward_gain, backward_gain) exactly as SPEC §2 defines them, in training mode."""
    model.train()
    captured: dict[str, torch.Tensor] = {}
    handle = None
    x = inputs[0]
    if not x.is_floating_point():
        emb = next(m for m in model.modules() if isinstance(m, nn.Embedding))

        def hook(_m: nn.Module, _i: object, out: torch.Tensor) -> torch.Tensor:
            out = out.detach().requires_grad_(True)
            captured["x"] = out
            return out

        handle = emb.register_forward_hook(hook)
        args = inputs
    else:
        x = x.detach().clone().requires_grad_(True)
        captured["x"] = x
        args = (x,) + tuple(inputs[1:])
    try:
        out = model(*args)
    finally:
        if handle is not None:
            handle.remove()
    y = out if isinstance(out, torch.Tensor) else out[0]
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn(y.shape, generator=gen, dtype=y.dtype)
    (gx,) = torch.autograd.grad((y * u).sum(), captured["x"])
    rms = lambda t: float(t.detach().double().pow(2).mean().sqrt())  # noqa: E731
    return rms(y) / rms(captured["x"]), rms(gx)


def log_err(pred: float | None, meas: float) -> float:
    assert pred is not None and pred > 0, pred
    return abs(math.log10(pred) - math.log10(meas))


class CountingMLP(nn.Module):
    """A two-layer MLP that counts its forwards: "the check's forward carries the measurement" means one."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(8, 8), nn.Linear(8, 8)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.b(torch.relu(self.a(x))) * 3.0
