"""MC201 bad (error): 30-layer ReLU MLP with Xavier init, ×0.71 per layer, 4e-5 after 30 layers.

He et al., "Delving Deep into Rectifiers", ICCV 2015 (their 30-layer experiment).
"""

import torch
from torch import nn


class XavierReLU30(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(32, 128), nn.ReLU()]
        for _ in range(28):
            layers += [nn.Linear(128, 128), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(128, 10))
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 32),)
