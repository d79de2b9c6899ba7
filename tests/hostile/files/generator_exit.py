"""Hostile: GeneratorExit from forward"""

import torch
from torch import nn


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise GeneratorExit
        return torch.relu(self.a(x))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(4, 16),)
