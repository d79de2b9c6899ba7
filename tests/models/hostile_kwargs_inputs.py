"""Hostile: several inputs of mixed kinds (float features, integer ids, a boolean mask)."""

import torch
from torch import nn


class MultiInput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(30, 16)
        self.feat = nn.Linear(8, 16)
        self.mix = nn.Linear(32, 16)
        self.out = nn.Linear(16, 2)

    def forward(self, feats: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        e = self.emb(ids).masked_fill(~mask.unsqueeze(-1), 0.0)
        pooled = e.sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        h = torch.relu(self.mix(torch.cat([self.feat(feats), pooled], dim=-1)))
        return self.out(h)


def example_inputs() -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 30, (4, 6), generator=g)
    return torch.randn(4, 8, generator=g), ids, ids > 3
