"""MC102 good: 20-block residual MLPs kept at unit scale by ReZero, SkipInit, Fixup and a 0.1 LayerScale.

One model holds the four schemes in sequence (5 blocks each) so a single trace covers them.
Bachlechner et al. 2021 (ReZero); De & Smith 2020 (SkipInit); Zhang et al. 2019 (Fixup); Touvron et al. 2021.
"""

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, d: int, scheme: str, blocks: int) -> None:
        super().__init__()
        self.scheme = scheme
        self.fc1, self.fc2 = nn.Linear(d, d), nn.Linear(d, d)
        nn.init.kaiming_normal_(self.fc1.weight, nonlinearity="relu")
        nn.init.kaiming_normal_(self.fc2.weight, nonlinearity="relu")
        if scheme == "fixup":
            self.fc1.weight.data.mul_(blocks**-0.5)
            nn.init.zeros_(self.fc2.weight)
        self.alpha = nn.Parameter(torch.zeros(())) if scheme in ("rezero", "skipinit") else None
        self.gamma = nn.Parameter(torch.full((d,), 0.1)) if scheme == "layerscale" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc2(torch.relu(self.fc1(x)))
        if self.alpha is not None:
            h = self.alpha * h
        if self.gamma is not None:
            h = h * self.gamma
        return x + h


class ScaledResidualMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        schemes = ["rezero"] * 5 + ["skipinit"] * 5 + ["fixup"] * 5 + ["layerscale"] * 5
        self.blocks = nn.Sequential(*[Block(64, s, 20) for s in schemes])
        self.out = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.blocks(x))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 64),)
