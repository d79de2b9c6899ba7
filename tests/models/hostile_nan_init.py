"""Hostile, genuinely broken: an init routine that leaves NaN in a weight."""

import torch
from torch import nn


class NanInit(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(16, 32)
        self.b = nn.Linear(32, 4)
        with torch.no_grad():
            self.b.weight.div_(torch.zeros(()))  # 0/0 -> NaN where the weight was 0, inf elsewhere
            self.b.weight[0, 0] = float("nan")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x)))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 16),)
