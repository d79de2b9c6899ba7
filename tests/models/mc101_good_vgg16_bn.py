"""MC101 good: VGG-16 with BatchNorm (13 convs + 3 linear layers = 16 weight ops, not above 20).

Simonyan & Zisserman, ICLR 2015; narrow channels and a 32x32 input to stay fast.
"""

import torch
from torch import nn

CFG = [8, 8, "M", 16, 16, "M", 32, 32, 32, "M", 64, 64, 64, "M", 64, 64, 64, "M"]


class VGG16BN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for v in CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(c_in, int(v), 3, padding=1), nn.BatchNorm2d(int(v)), nn.ReLU()]
                c_in = int(v)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(2, 3, 32, 32),)
