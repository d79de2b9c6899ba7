"""MC101 info only: 60 tanh layers with orthogonal weights (dynamical isometry, Pennington et al. 2017)."""

import torch
from torch import nn


class OrthogonalTanh60(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(60):
            linear = nn.Linear(64, 64)
            nn.init.orthogonal_(linear.weight)
            nn.init.zeros_(linear.bias)
            layers += [linear, nn.Tanh()]
        self.net = nn.Sequential(*layers[:-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 64),)
