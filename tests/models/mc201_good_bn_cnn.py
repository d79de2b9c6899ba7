"""MC201 good: a 10-conv VGG-style net with BatchNorm after every conv, PyTorch default init.

Every conv feeds a norm, so no unnormalised segment is longer than the classifier head.
"""

import torch
from torch import nn


class BNConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for i, w in enumerate((16, 16, 32, 32, 32, 64, 64, 64, 64, 64)):
            layers += [nn.Conv2d(c, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU()]
            if i in (1, 4, 7):
                layers.append(nn.MaxPool2d(2))
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(4, 3, 32, 32),)
