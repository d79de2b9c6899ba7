"""MC204 bad (warning): biases at −2 against σ_z ≈ 1.4 leave about 8% of inputs active per unit."""

import torch
from torch import nn


class ShiftedBiasReLU(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.out = nn.Linear(32, 128), nn.Linear(128, 128), nn.Linear(128, 10)
        for fc in (self.fc1, self.fc2):
            nn.init.kaiming_normal_(fc.weight, nonlinearity="relu")
        nn.init.zeros_(self.fc1.bias)
        nn.init.constant_(self.fc2.bias, -2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 32),)
