"""MC201 bad (error): 40-layer tanh MLP with PyTorch's default Linear init (σ_w² = 1/3): the signal
falls to the bias floor and the gradient vanishes (Poole et al., NeurIPS 2016)."""

import torch
from torch import nn


class DefaultTanh40(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(32, 128), nn.Tanh()]
        for _ in range(38):
            layers += [nn.Linear(128, 128), nn.Tanh()]
        self.net = nn.Sequential(*layers, nn.Linear(128, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 32),)
