"""MC202 good: norms whose scale is ``1 + w`` with ``w`` zero-initialised (Gemma's RMSNorm, written by hand).

``UnitOffsetRMSNorm`` is kept whole by the tracers (its name ends in RMSNorm); ``ShiftedScaleNorm`` is
traced through (``x * (w + 1)`` in plain ops). Neither zero is a zero scale: both start as a unit scale.
"""

import torch
from torch import nn


class UnitOffsetRMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return x * (1.0 + self.weight)


class ShiftedScaleNorm(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x - x.mean(-1, keepdim=True)
        return x / (x.pow(2).mean(-1, keepdim=True) + 1e-5).sqrt() * (self.gain + 1)


class Block(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = UnitOffsetRMSNorm(dim), ShiftedScaleNorm(dim)
        self.fc1, self.fc2 = nn.Linear(dim, 2 * dim), nn.Linear(2 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(torch.relu(self.fc1(self.norm2(self.norm1(x)))))


class OffsetScaleNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(32, 64)
        self.blocks = nn.Sequential(*[Block(64) for _ in range(4)])
        self.norm = UnitOffsetRMSNorm(64)
        self.out = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.norm(self.blocks(self.inp(x))))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 32),)
