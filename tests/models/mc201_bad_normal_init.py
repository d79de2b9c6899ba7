"""MC201 bad (error): 12-layer ReLU MLP with N(0, 1) weights: ×√(fan_in/2) = 8 per layer."""

import torch
from torch import nn


class NormalInitReLU(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(11):
            layers += [nn.Linear(32 if i == 0 else 128, 128), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(128, 10))
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 1.0)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 32),)
