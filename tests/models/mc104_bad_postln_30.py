"""MC104 bad (warning): a 30-layer post-LN Transformer encoder (Xiong et al. 2020)."""

import torch
from torch import nn


class PostLN30(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.tok = nn.Embedding(100, 32)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True, norm_first=False)
            for _ in range(30)
        )

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.tok(ids)
        for layer in self.layers:
            h = layer(h)
        return h


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randint(0, 100, (4, 16)),)
