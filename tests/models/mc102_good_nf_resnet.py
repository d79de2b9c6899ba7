"""MC102 good: NF-ResNet-style conv net without normalization, x + alpha * f(x / beta), alpha = 0.2.

Brock, De, Smith, "Characterizing signal propagation to close the performance gap in unnormalized
ResNets", ICLR 2021: beta is the expected std of the stream, so every branch sees unit variance.
"""

import torch
from torch import nn


class NFBlock(nn.Module):
    def __init__(self, c: int, beta: float, alpha: float = 0.2) -> None:
        super().__init__()
        self.alpha, self.beta = alpha, beta
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        for conv in (self.conv1, self.conv2):
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(torch.relu(self.conv1(torch.relu(x / self.beta))))
        return x + self.alpha * h


class NFResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        blocks, var = [], 1.0
        for _ in range(16):
            blocks.append(NFBlock(16, beta=var**0.5))
            var += 0.2**2
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(4, 3, 16, 16),)
