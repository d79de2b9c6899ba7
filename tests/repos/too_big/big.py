"""A model whose default config has tens of billions of parameters: it must never be allocated."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class BigArgs:
    dim: int = 16384
    n_layers: int = 2
    vocab_size: int = 512000
    hidden_dim: int = 4 * 16384


class Layer(nn.Module):
    def __init__(self, args: BigArgs) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(args.dim)
        self.up = nn.Linear(args.dim, args.hidden_dim, bias=False)
        self.down = nn.Linear(args.hidden_dim, args.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.down(torch.relu(self.up(self.norm(x))))


class BigLM(nn.Module):
    def __init__(self, args: BigArgs) -> None:
        super().__init__()
        self.embed = nn.Embedding(args.vocab_size, args.dim)
        self.layers = nn.ModuleList(Layer(args) for _ in range(args.n_layers))
        self.norm = nn.LayerNorm(args.dim)
        self.out = nn.Linear(args.dim, args.vocab_size, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.embed(tokens)
        for layer in self.layers:
            h = layer(h)
        return self.out(self.norm(h))
