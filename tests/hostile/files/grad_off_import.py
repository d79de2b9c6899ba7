"""Hostile: grad mode switched off at import (must neither break this file's analysis nor leak)"""

import torch
from torch import nn

torch.set_grad_enabled(False)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.a(x))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(4, 16),)
