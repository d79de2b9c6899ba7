"""MC201 good: 24-layer self-normalising net, SELU with LeCun init std 1/√fan_in (Klambauer et al. 2017)."""

import torch
from torch import nn


class SeluLeCun24(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(32, 128), nn.SELU()]
        for _ in range(22):
            layers += [nn.Linear(128, 128), nn.SELU()]
        self.net = nn.Sequential(*layers, nn.Linear(128, 10))
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="linear")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 32),)
