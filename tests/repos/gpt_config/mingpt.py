"""A model whose constructor takes a config that only its ``get_default_config()`` builds."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn


class MiniGPT(nn.Module):
    @staticmethod
    def get_default_config() -> SimpleNamespace:
        return SimpleNamespace(vocab_size=50, block_size=6, n_embd=24)

    def __init__(self, config) -> None:  # noqa: ANN001
        super().__init__()
        self.block_size = config.block_size
        self.tok = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos = nn.Parameter(torch.zeros(1, config.block_size, config.n_embd))
        self.mix = nn.Sequential(nn.LayerNorm(config.n_embd), nn.Linear(config.n_embd, config.n_embd), nn.GELU())
        self.head = nn.Linear(config.n_embd, config.vocab_size)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]
        assert t <= self.block_size, "Cannot forward, model block size is exhausted."
        x = self.tok(idx) + self.pos[:, :t]
        return self.head(x + self.mix(x))
