"""Hostile: a torch.compile'd submodule (an OptimizedModule inside the tree).

The eager backend keeps the fixture independent of a C++ toolchain; the wrapper the linter meets is
the same OptimizedModule whatever the backend.
"""

import torch
from torch import nn


class Mlp(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d, 2 * d)
        self.fc2 = nn.Linear(2 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.nn.functional.gelu(self.fc1(x)))


class CompiledNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(16, 32)
        self.mlp = torch.compile(Mlp(32), backend="eager")
        self.out = nn.Linear(32, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        return self.out(h + self.mlp(h))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 16, generator=torch.Generator().manual_seed(0)),)
