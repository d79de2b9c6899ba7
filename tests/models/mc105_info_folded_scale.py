"""MC105 info only: T5-style attention with no scale on the scores; 1/sqrt(d_k) is folded into W_Q's init."""

import torch
from torch import nn


class FoldedScaleAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        d, d_kv = 64, 16
        self.heads, self.d_kv = 4, d_kv
        self.norm = nn.LayerNorm(d)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))
        nn.init.normal_(self.q.weight, std=(d * d_kv) ** -0.5)
        nn.init.normal_(self.k.weight, std=d**-0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        h = self.norm(x)
        q = self.q(h).view(b, t, self.heads, self.d_kv).transpose(1, 2)
        k = self.k(h).view(b, t, self.heads, self.d_kv).transpose(1, 2)
        v = self.v(h).view(b, t, self.heads, self.d_kv).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(3, 2))
        a = torch.matmul(scores.softmax(dim=-1), v).transpose(1, 2).reshape(b, t, d)
        return x + self.o(a)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(4, 16, 64),)
