"""The broken model every hostile file is linted beside: a 30-layer sigmoid MLP with default init."""

import torch
from torch import nn


class BrokenSigmoid30(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(30):
            layers += [nn.Linear(32, 32), nn.Sigmoid()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 32),)
