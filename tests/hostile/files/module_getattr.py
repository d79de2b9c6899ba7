"""Hostile: a module __getattr__ that raises on every unknown name"""

import torch
from torch import nn


def __getattr__(name: str):
    raise RuntimeError(f'module attribute {name} is not available')


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.a(x))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(4, 16),)
