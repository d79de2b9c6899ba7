"""Imports its blocks through the namespace package ``nets`` (no ``__init__.py`` anywhere)."""

from __future__ import annotations

import torch
from torch import nn

from nets.common.blocks import ResidualMLP


class Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(20, 32)
        self.blocks = nn.Sequential(ResidualMLP(32), ResidualMLP(32))
        self.head = nn.Linear(32, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.embed(x)))
