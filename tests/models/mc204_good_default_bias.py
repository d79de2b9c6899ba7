"""MC204 good: PyTorch's default U(±1/√fan_in) biases in a 4-layer ReLU MLP."""

import torch
from torch import nn


class DefaultBiasReLU(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(32, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                                 nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 32),)
