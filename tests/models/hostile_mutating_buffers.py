"""Hostile: buffers written during the forward (a step counter, an EMA, a reassigned cache)."""

import torch
from torch import nn


class StatefulNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(16, 32)
        self.out = nn.Linear(32, 4)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("ema", torch.zeros(32))
        self.register_buffer("last", torch.zeros(1, 32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.a(x))
        if self.training:
            self.steps += 1
            self.ema.mul_(0.9).add_(0.1 * h.detach().mean(0))
        self.last = h.detach()[:1].clone()  # reassigned, not updated in place
        return self.out(h - self.ema)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 16, generator=torch.Generator().manual_seed(0)),)
