"""Hostile: a subprocess printing to the inherited stdout"""

import subprocess
import sys

import torch
from torch import nn

subprocess.run([sys.executable, '-c', 'print("{not json from a subprocess}")'], check=False)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.a(x))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(4, 16),)
