"""Hostile: in-place ops everywhere (relu_, +=, mul_, slice assignment, masked_fill_)."""

import torch
from torch import nn


class InplaceNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(32, 32)
        self.b = nn.Linear(32, 32)
        self.act = nn.ReLU(inplace=True)
        self.out = nn.Linear(32, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.a(x)
        r = self.b(self.act(h.clone()))  # ReLU(inplace=True) on a copy
        r.relu_()
        h += r  # in-place residual add
        h.mul_(0.5)
        h[:, :4] = 0.0  # slice assignment
        h.masked_fill_(h > 3.0, 3.0)
        torch.nn.functional.dropout(h, p=0.1, training=self.training, inplace=True)
        return self.out(h)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 32, generator=torch.Generator().manual_seed(0)),)
