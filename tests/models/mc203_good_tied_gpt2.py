"""MC203 good: the same tiny LM with GPT-2's 0.02 embedding std: tied logits have std 0.02·√256 = 0.32."""

import torch
from torch import nn


class TiedGPT2LM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.tok = nn.Embedding(500, 256)
        nn.init.normal_(self.tok.weight, std=0.02)
        layer = nn.TransformerEncoderLayer(256, 4, 512, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(256)
        self.head = nn.Linear(256, 500, bias=False)
        self.head.weight = self.tok.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.encoder(self.tok(ids))))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randint(0, 500, (2, 16)),)
