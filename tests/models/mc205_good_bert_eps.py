"""MC205 good: LayerNorm eps=1e-12 (BERT, ViT) on a unit-scale input, and RMSNorm eps=1e-6 (Llama)."""

import torch
from torch import nn


class BertEpsNorms(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(64, 64)
        self.ln = nn.LayerNorm(64, eps=1e-12)
        self.rms = nn.RMSNorm(64, eps=1e-6)
        self.head = nn.Linear(64, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rms(self.ln(self.fc(x))))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 64),)
