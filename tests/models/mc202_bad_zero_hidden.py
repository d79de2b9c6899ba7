"""MC202 bad (warning): a hidden tanh layer zero-initialised with nothing to bypass it."""

import torch
from torch import nn


class ZeroHiddenTanh(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.out = nn.Linear(32, 64), nn.Linear(64, 64), nn.Linear(64, 10)
        nn.init.zeros_(self.fc2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.fc2(torch.tanh(self.fc1(x)))))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 32),)
