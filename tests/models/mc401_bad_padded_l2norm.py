"""MC401 bad: a hand-written L2 normalisation with eps=1e-12 applied to padded sequences. On the
all-zero padding rows its local gain is 1/sqrt(1e-12) = 1e6, so kappa(x) ~ 1e6."""

import torch
from torch import nn


class PaddedTokenMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 32))
        self.head = nn.Linear(32, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * torch.rsqrt(x.pow(2).sum(-1, keepdim=True) + 1e-12)
        return self.head(self.mlp(x))


def example_inputs() -> tuple[torch.Tensor, ...]:
    x = torch.randn(4, 16, 32)
    x[:, 12:] = 0.0  # padding positions
    return (x,)
