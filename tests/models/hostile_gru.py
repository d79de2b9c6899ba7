"""Hostile: a GRU over float features, reading its last hidden state."""

import torch
from torch import nn


class GruRegressor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(8, 24, num_layers=2, batch_first=True)
        self.head = nn.Linear(24, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _out, h = self.gru(x)
        return self.head(h[-1])


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(4, 12, 8, generator=torch.Generator().manual_seed(0)),)
