"""Hostile: an exception whose __str__ raises, at import"""

import torch
from torch import nn


class Weird(Exception):
    def __str__(self) -> str:
        raise RuntimeError('no message for you')


raise Weird()


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.a(x))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(4, 16),)
