"""Hostile: writes to fd 1 at import and in forward"""

import os

import torch
from torch import nn

os.write(1, b'{not json from os.write}\n')


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        os.write(1, b'{forward wrote this}\n')
        return torch.relu(self.a(x))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(4, 16),)
