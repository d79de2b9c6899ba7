"""Hostile: os._exit(0) at import"""

import os

import torch
from torch import nn

os._exit(0)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.a(x))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(4, 16),)
