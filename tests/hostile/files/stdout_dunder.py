"""Hostile: writes to sys.__stdout__"""

import sys

import torch
from torch import nn

sys.__stdout__.write('{not json from sys.__stdout__}\n')
sys.__stdout__.flush()


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.a(x))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(4, 16),)
