"""A DiT-style diffusion transformer: ``forward(x, t, y)`` over latent patches, with size variants."""

from __future__ import annotations

import math

import torch
from torch import nn


class TimestepEmbedder(nn.Module):
    def __init__(self, hidden_size: int, frequency_embedding_size: int = 32) -> None:
        super().__init__()
        self.frequency_embedding_size = frequency_embedding_size
        self.mlp = nn.Sequential(nn.Linear(frequency_embedding_size, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.frequency_embedding_size // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
        args = t[:, None].float() * freqs[None]
        return self.mlp(torch.cat([torch.cos(args), torch.sin(args)], dim=-1))


class LabelEmbedder(nn.Module):
    def __init__(self, num_classes: int, hidden_size: int) -> None:
        super().__init__()
        self.embedding_table = nn.Embedding(num_classes + 1, hidden_size)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        return self.embedding_table(labels)


class DiTBlock(nn.Module):
    def __init__(self, hidden_size: int, num_heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False)
        self.attn = nn.MultiheadAttention(hidden_size, num_heads, batch_first=True)
        self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(hidden_size, 4 * hidden_size), nn.GELU(), nn.Linear(4 * hidden_size, hidden_size))
        self.adaLN = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN(c).unsqueeze(1).chunk(2, dim=-1)
        h = self.norm1(x) * (1 + scale) + shift
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class DiT(nn.Module):
    def __init__(
        self,
        input_size: int = 8,
        patch_size: int = 2,
        in_channels: int = 4,
        hidden_size: int = 32,
        depth: int = 2,
        num_heads: int = 2,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        self.input_size, self.in_channels = input_size, in_channels
        self.x_embedder = nn.Conv2d(in_channels, hidden_size, kernel_size=patch_size, stride=patch_size)
        self.t_embedder = TimestepEmbedder(hidden_size)
        self.y_embedder = LabelEmbedder(num_classes, hidden_size)
        self.blocks = nn.ModuleList(DiTBlock(hidden_size, num_heads) for _ in range(depth))
        self.final = nn.Linear(hidden_size, patch_size * patch_size * in_channels)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"latent of size {x.shape[-1]}, expected {self.input_size}")
        if t.dtype == torch.long or y.is_floating_point():
            raise TypeError("t must be float timesteps and y integer labels")
        h = self.x_embedder(x).flatten(2).transpose(1, 2)
        c = self.t_embedder(t) + self.y_embedder(y)
        for block in self.blocks:
            h = block(h, c)
        return self.final(h)


def DiT_S(**kwargs) -> DiT:  # noqa: ANN003, N802
    return DiT(depth=2, hidden_size=32, num_heads=2, **kwargs)


def DiT_B(**kwargs) -> DiT:  # noqa: ANN003, N802
    return DiT(depth=4, hidden_size=64, num_heads=4, **kwargs)
