"""Hostile, genuinely broken: the constructor itself raises."""

import torch
from torch import nn


class BadConstructor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(16, 32)
        self.b = nn.Linear(32, 4, bias=3)  # type: ignore[arg-type]
        raise ValueError("hidden size must be divisible by the number of heads")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 16),)
