"""MC204 info: 12 ReLU layers of width 6 (Lu et al. 2020: narrow deep ReLU nets are born dead)."""

import torch
from torch import nn


class NarrowDeepReLU(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(4, 6), nn.ReLU()]
        for _ in range(11):
            layers += [nn.Linear(6, 6), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(6, 1))
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(16, 4),)
