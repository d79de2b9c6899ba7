"""MC202 bad (error): two consecutive zero-initialised layers: both get exactly zero gradient."""

import torch
from torch import nn


class TwoZeroLayers(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(32, 64), nn.Linear(64, 64), nn.Linear(64, 10)
        nn.init.zeros_(self.fc1.weight)
        nn.init.zeros_(self.fc2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(torch.tanh(self.fc2(torch.tanh(self.fc1(x)))))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 32),)
