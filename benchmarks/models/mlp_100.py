"""Scale curve: a plain ReLU MLP of depth 100, width 256 (PyTorch default init)."""

import torch
from torch import nn

DEPTH, WIDTH = 100, 256


class Mlp100(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(DEPTH - 1):
            layers += [nn.Linear(WIDTH, WIDTH), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(WIDTH, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, WIDTH, generator=torch.Generator().manual_seed(0)),)
