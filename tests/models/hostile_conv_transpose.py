"""Hostile: an upsampling decoder of transposed convolutions (1-D and 2-D, strided, output_padding)."""

import torch
from torch import nn


class Decoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 32 * 4 * 4)
        self.up = nn.Sequential(
            nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(8, 3, 1),
        )  # fmt: skip
        self.line = nn.ConvTranspose1d(3, 3, 4, stride=2, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        img = self.up(self.fc(z).view(-1, 32, 4, 4))  # (B, 3, 16, 16)
        return self.line(img.flatten(2))  # (B, 3, 512)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(4, 16, generator=torch.Generator().manual_seed(0)),)
