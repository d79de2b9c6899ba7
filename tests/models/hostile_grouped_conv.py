"""Hostile: MobileNet-style depthwise-separable and ResNeXt-style grouped convolutions."""

import torch
from torch import nn


class InvertedResidual(nn.Module):
    def __init__(self, c: int, expand: int = 4) -> None:
        super().__init__()
        h = c * expand
        self.block = nn.Sequential(
            nn.Conv2d(c, h, 1, bias=False), nn.BatchNorm2d(h), nn.ReLU6(),
            nn.Conv2d(h, h, 3, padding=1, groups=h, bias=False), nn.BatchNorm2d(h), nn.ReLU6(),  # depthwise
            nn.Conv2d(h, c, 1, bias=False), nn.BatchNorm2d(c),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class GroupedNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.blocks = nn.Sequential(InvertedResidual(16), InvertedResidual(16))
        self.grouped = nn.Conv2d(16, 32, 3, padding=1, groups=4)  # ResNeXt cardinality 4
        self.head = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.grouped(self.blocks(self.stem(x))))
        return self.head(h.mean((2, 3)))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0)),)
