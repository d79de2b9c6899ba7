"""Hostile: the forward returns a dataclass whose first field is None (like an HF output without loss)."""

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Output:
    loss: torch.Tensor | None
    logits: torch.Tensor
    hidden: torch.Tensor


class DataclassNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(16, 32)
        self.norm = nn.LayerNorm(32)
        self.b = nn.Linear(32, 8)

    def forward(self, x: torch.Tensor) -> Output:
        h = self.norm(torch.relu(self.a(x)))
        return Output(loss=None, logits=self.b(h), hidden=h)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 16, generator=torch.Generator().manual_seed(0)),)
