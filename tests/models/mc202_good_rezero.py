"""MC202 good: ReZero, every residual branch gated by a Parameter initialised to 0 (Bachlechner et al. 2021)."""

import torch
from torch import nn


class ReZeroBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.alpha = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.alpha * self.fc2(torch.relu(self.fc1(x)))


class ReZeroMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(32, 64)
        self.blocks = nn.Sequential(*[ReZeroBlock(64) for _ in range(16)])
        self.out = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.blocks(self.inp(x)))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 32),)
