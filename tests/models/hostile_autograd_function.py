"""Hostile: a custom torch.autograd.Function (straight-through quantiser) in the forward."""

import torch
from torch import nn


class RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return torch.round(x * 4) / 4

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return grad  # straight through


class QuantNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(16, 32)
        self.b = nn.Linear(32, 32)
        self.out = nn.Linear(32, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.a(x))
        h = RoundSTE.apply(h)
        h = torch.relu(self.b(h))
        return self.out(RoundSTE.apply(h))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 16, generator=torch.Generator().manual_seed(0)),)
