"""MC201 good: 20-layer tanh MLP with xavier_normal_(gain=5/3) and zero biases (Glorot & Bengio 2010)."""

import torch
from torch import nn


class TanhXavier20(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(32, 128), nn.Tanh()]
        for _ in range(18):
            layers += [nn.Linear(128, 128), nn.Tanh()]
        self.net = nn.Sequential(*layers, nn.Linear(128, 10))
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight, gain=5 / 3)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 32),)
