"""Hostile: a 2-layer bidirectional LSTM (fused cuDNN-style op, tuple output with state)."""

import torch
from torch import nn


class LstmTagger(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        self.lstm = nn.LSTM(16, 32, num_layers=2, batch_first=True, bidirectional=True)
        self.head = nn.Linear(64, 5)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, (_h, _c) = self.lstm(self.emb(ids))
        return self.head(out)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randint(0, 50, (4, 10), generator=torch.Generator().manual_seed(0)),)
