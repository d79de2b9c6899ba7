"""MC201 good: 40-layer ReLU MLP with Kaiming init (He et al. 2015): gain ≈ 1 at any depth."""

import torch
from torch import nn


class KaimingReLU40(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(32, 128), nn.ReLU()]
        for _ in range(38):
            layers += [nn.Linear(128, 128), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(128, 10))
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 32),)
