"""Hostile: the forward returns a tuple led by an integer tensor, then floats and a None."""

import torch
from torch import nn


class TupleNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(16, 32)
        self.b = nn.Linear(32, 8)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, None]:
        h = torch.tanh(self.a(x))
        logits = self.b(h)
        return logits.argmax(-1), logits, h, None


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 16, generator=torch.Generator().manual_seed(0)),)
