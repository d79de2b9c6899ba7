"""MC202 good: Fixup residual MLP, the last layer of every branch zero-initialised (Zhang et al. 2019)."""

import torch
from torch import nn


class FixupBlock(nn.Module):
    def __init__(self, dim: int, blocks: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, dim), nn.Linear(dim, dim)
        nn.init.kaiming_normal_(self.fc1.weight, nonlinearity="relu")
        self.fc1.weight.data.mul_(blocks ** -0.5)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc1.bias)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(torch.relu(self.fc1(x)))


class FixupMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(32, 64)
        self.blocks = nn.Sequential(*[FixupBlock(64, 16) for _ in range(16)])
        self.out = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.blocks(self.inp(x)))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 32),)
