"""Hostile: parametrised weights (weight_norm, spectral_norm): the weight is computed in the forward."""

import torch
from torch import nn
from torch.nn.utils import parametrizations


class ParametrizedNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = parametrizations.weight_norm(nn.Linear(16, 32))
        self.b = parametrizations.spectral_norm(nn.Linear(32, 32))
        self.c = parametrizations.orthogonal(nn.Linear(32, 32))
        self.out = nn.Linear(32, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.a(x))
        h = torch.relu(self.b(h))
        h = torch.tanh(self.c(h))
        return self.out(h)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 16, generator=torch.Generator().manual_seed(0)),)
