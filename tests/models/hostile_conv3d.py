"""Hostile: a 3-D CNN (video / volumes) with BatchNorm3d, MaxPool3d and global pooling."""

import torch
from torch import nn


class Video3d(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(3, 8, 3, padding=1), nn.BatchNorm3d(8), nn.ReLU(),
            nn.MaxPool3d(2),
            nn.Conv3d(8, 16, 3, padding=1, stride=(1, 2, 2)), nn.BatchNorm3d(16), nn.ReLU(),
            nn.AdaptiveAvgPool3d(1), nn.Flatten(),
        )  # fmt: skip
        self.head = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(2, 3, 4, 16, 16, generator=torch.Generator().manual_seed(0)),)
