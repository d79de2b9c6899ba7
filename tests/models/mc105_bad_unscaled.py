"""MC105 bad: single-head attention without 1/sqrt(d_k), Xavier q/k projections, d_k = 64 (sigma_S ~ 8)."""

import torch
from torch import nn


class UnscaledAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(64)
        self.q, self.k, self.v = nn.Linear(64, 64), nn.Linear(64, 64), nn.Linear(64, 64)
        for m in (self.q, self.k):
            nn.init.xavier_normal_(m.weight)
        self.out = nn.Linear(64, 64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        scores = self.q(h) @ self.k(h).transpose(-2, -1)
        return x + self.out(scores.softmax(dim=-1) @ self.v(h))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(4, 16, 64),)
