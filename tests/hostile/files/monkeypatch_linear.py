"""Hostile: monkeypatches nn.Linear.forward at import"""

import torch
from torch import nn

_orig = nn.Linear.forward
nn.Linear.forward = lambda self, x: _orig(self, x) * 0.0  # would hide every later model's gains


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.a(x))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(4, 16),)
