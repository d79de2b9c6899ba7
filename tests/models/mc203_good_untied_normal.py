"""MC203 good: an untied default N(0, 1) embedding feeding a pre-LN encoder (the first norm rescales it)."""

import torch
from torch import nn


class UntiedNormalLM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.tok = nn.Embedding(500, 128)
        layer = nn.TransformerEncoderLayer(128, 4, 256, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(128)
        self.head = nn.Linear(128, 500)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.encoder(self.tok(ids))))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randint(0, 500, (2, 16)),)
