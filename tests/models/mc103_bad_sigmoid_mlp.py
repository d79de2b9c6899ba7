"""MC103 bad: a 10-layer sigmoid MLP with Glorot init (chi = 0.153 per layer: 10^-8 over 9 layers)."""

import torch
from torch import nn


class SigmoidMLP10(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(10):
            linear = nn.Linear(128 if i else 32, 128)
            nn.init.xavier_normal_(linear.weight)
            nn.init.zeros_(linear.bias)
            layers += [linear, nn.Sigmoid()]
        self.net = nn.Sequential(*layers[:-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 32),)
