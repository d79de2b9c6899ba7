"""MC201 good: a 3-layer MLP with PyTorch's default init (r = 0.41 per ReLU layer is fine this shallow)."""

import torch
from torch import nn


class DefaultShallowMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(32, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 32),)
