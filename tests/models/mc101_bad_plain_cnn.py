"""MC101 bad: 30 plain 3x3 convolutions with ReLU and no skip (warning: 30 > 20)."""

import torch
from torch import nn


class PlainCNN30(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, 16, 3, padding=1), nn.ReLU()]
        for _ in range(28):
            layers += [nn.Conv2d(16, 16, 3, padding=1), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(4, 3, 16, 16),)
