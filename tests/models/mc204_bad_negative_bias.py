"""MC204 bad (error): Kaiming weights but biases at −4: b/σ_z ≈ −2.8, under 1% of inputs activate a unit."""

import torch
from torch import nn


class NegativeBiasReLU(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.out = nn.Linear(32, 128), nn.Linear(128, 128), nn.Linear(128, 10)
        for fc in (self.fc1, self.fc2):
            nn.init.kaiming_normal_(fc.weight, nonlinearity="relu")
        nn.init.zeros_(self.fc1.bias)
        nn.init.constant_(self.fc2.bias, -4.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 32),)
