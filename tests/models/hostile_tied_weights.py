"""Hostile: an embedding tied to the output head (one Parameter, two modules)."""

import torch
from torch import nn


class TiedLM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(100, 32)
        nn.init.normal_(self.emb.weight, std=0.02)
        self.mix = nn.Linear(32, 32)
        self.norm = nn.LayerNorm(32)
        self.head = nn.Linear(32, 100, bias=False)
        self.head.weight = self.emb.weight  # tied

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.emb(ids)
        h = h + torch.nn.functional.gelu(self.mix(h))
        return self.head(self.norm(h))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randint(0, 100, (4, 12), generator=torch.Generator().manual_seed(0)),)
