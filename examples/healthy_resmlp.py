"""A model that trains: a pre-norm residual MLP (LayerNorm -> Linear -> GELU -> Linear, plus skip).

The residual stream carries the signal and the gradient through every block unchanged, and each
block only adds a normalized update, so the gains stay near 1 at any depth.
"""

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.ff(self.norm(x))


class ResidualMLP(nn.Module):
    def __init__(self, dim: int = 64, depth: int = 8) -> None:
        super().__init__()
        self.embed = nn.Linear(32, dim)
        self.blocks = nn.Sequential(*[Block(dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.blocks(self.embed(x))))

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.randn(8, 32),)
