"""MC205 bad: LayerNorm(eps=1e-5) fed an embedding with std 1e-4 (input RMS 1e-4 < 3 sqrt(eps) = 9.5e-3)."""

import torch
from torch import nn


class TinyInputNorm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(100, 64)
        nn.init.normal_(self.emb.weight, std=1e-4)
        self.norm = nn.LayerNorm(64, eps=1e-5)
        self.head = nn.Linear(64, 8)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.emb(ids)))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randint(0, 100, (4, 16)),)
