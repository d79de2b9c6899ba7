"""MC202 bad (error): a zero layer with zero bias in front of a ReLU: relu(0) = 0 and relu'(0) = 0."""

import torch
from torch import nn


class ZeroReLULayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(32, 64), nn.Linear(64, 10)
        nn.init.zeros_(self.fc1.weight)
        nn.init.zeros_(self.fc1.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 32),)
