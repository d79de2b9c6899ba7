"""MC101 bad: a 60-layer plain Kaiming-ReLU MLP (error: 60 > 50 weight ops with no skip)."""

import torch
from torch import nn


class PlainMLP60(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(60):
            linear = nn.Linear(64 if i else 32, 64)
            nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
            nn.init.zeros_(linear.bias)
            layers += [linear, nn.ReLU()]
        self.net = nn.Sequential(*layers[:-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 32),)
