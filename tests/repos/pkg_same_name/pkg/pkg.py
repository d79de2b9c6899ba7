from __future__ import annotations

import torch
from torch import nn

from pkg.layers import Stem


class PkgNet(nn.Module):
    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.stem = Stem(width)
        self.head = nn.Linear(width, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stem(x))
