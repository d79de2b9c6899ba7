"""Hostile: Python control flow that depends on tensor values (fx cannot trace it symbolically)."""

import torch
from torch import nn


class DataDependentNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(16, 32)
        self.pos = nn.Linear(32, 32)
        self.neg = nn.Linear(32, 32)
        self.out = nn.Linear(32, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.inp(x))
        if h.mean() > 0.1:  # a branch chosen by the data
            h = torch.relu(self.pos(h))
        else:
            h = torch.relu(self.neg(h))
        steps = 0
        while h.norm() > 10.0 and steps < 5:  # a data-dependent trip count
            h = h / 2
            steps += 1
        if bool((h > 0).any()):
            h = h + 0.0
        return self.out(h)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 16, generator=torch.Generator().manual_seed(0)),)
