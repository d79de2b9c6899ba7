"""Hostile, genuinely broken: the forward uses an attribute that was never defined."""

import torch
from torch import nn


class BrokenForward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(16, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x)))  # typo: there is no self.b


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 16),)
