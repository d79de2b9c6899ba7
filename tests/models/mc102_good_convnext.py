"""MC102/MC205 good: ConvNeXt-style blocks (depthwise 7x7 conv, LayerNorm, MLP, LayerScale 1e-6).

Liu et al., "A ConvNet for the 2020s", CVPR 2022.
"""

import torch
from torch import nn


class ConvNeXtBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.pwconv1, self.pwconv2 = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
        self.act = nn.GELU()
        self.gamma = nn.Parameter(torch.full((c,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dwconv(x).permute(0, 2, 3, 1)
        h = self.gamma * self.pwconv2(self.act(self.pwconv1(self.norm(h))))
        return x + h.permute(0, 3, 1, 2)


class ConvNeXtTiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 4, stride=4)
        self.stem_norm = nn.LayerNorm(32, eps=1e-6)
        self.blocks = nn.Sequential(*[ConvNeXtBlock(32) for _ in range(12)])
        self.norm = nn.LayerNorm(32, eps=1e-6)
        self.head = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem_norm(self.stem(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        h = self.blocks(h)
        return self.head(self.norm(h.mean(dim=(2, 3))))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(2, 3, 32, 32),)
