"""A model that will not train: 24 sigmoid layers with PyTorch's default init.

The sigmoid's slope is at most 1/4, so every layer shrinks the gradient; after two dozen layers
almost nothing reaches the first one (Glorot & Bengio, AISTATS 2010). `modelcheck lint` flags it
before a single training step.
"""

import torch
from torch import nn


class DeepSigmoidMLP(nn.Module):
    def __init__(self, width: int = 64, depth: int = 24) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(32, width), nn.Sigmoid()]
        for _ in range(depth - 2):
            layers += [nn.Linear(width, width), nn.Sigmoid()]
        layers.append(nn.Linear(width, 10))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 32),)


if __name__ == "__main__":  # never runs under modelcheck: the file is imported under another name
    print(DeepSigmoidMLP()(*example_inputs()).shape)
