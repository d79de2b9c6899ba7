"""MC104 info only: a 16-layer BERT-style post-LN encoder (LayerNorm eps 1e-12) - needs warmup, no warning."""

import math

import torch
from torch import nn


class Layer(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.ln1, self.ln2 = nn.LayerNorm(d, eps=1e-12), nn.LayerNorm(d, eps=1e-12)
        self.ff1, self.ff2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        for m in (self.q, self.k, self.v, self.o, self.ff1, self.ff2):
            nn.init.normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.split(self.q(x)), self.split(self.k(x)), self.split(self.v(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
        a = torch.matmul(scores.softmax(dim=-1), v).transpose(1, 2).reshape(x.shape)
        x = self.ln1(x + self.o(a))
        return self.ln2(x + self.ff2(nn.functional.gelu(self.ff1(x))))


class BertLike16(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.tok = nn.Embedding(100, 64)
        self.pos = nn.Parameter(torch.randn(1, 16, 64) * 0.02)
        nn.init.normal_(self.tok.weight, std=0.02)
        self.ln = nn.LayerNorm(64, eps=1e-12)
        self.layers = nn.ModuleList(Layer(64, 4) for _ in range(16))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.ln(self.tok(ids) + self.pos)
        for layer in self.layers:
            h = layer(h)
        return h


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randint(0, 100, (4, 16)),)
