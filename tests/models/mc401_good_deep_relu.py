"""MC401 good (info only): a 16-layer Kaiming ReLU MLP. Its AutoLip bound is ~10^7 (each layer's
sigma_max is about twice its RMS gain, and ReLU gating is worst-cased), but the local sensitivity at
the input is modest: never a warning on the AutoLip value alone."""

import torch
from torch import nn


class DeepReLU(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(16):
            lin = nn.Linear(128, 128)
            nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
            nn.init.zeros_(lin.bias)
            layers += [lin, nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(16, 128),)
