"""MC102 bad (warning): 100 residual blocks with PyTorch's default init and no norm (RMS x15, THEORY 3.3)."""

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(torch.relu(self.fc1(x)))


class DefaultResidualMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[Block(64) for _ in range(100)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 64),)
