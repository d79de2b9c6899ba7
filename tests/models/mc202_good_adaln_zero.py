"""MC202 good: DiT-style adaLN-Zero blocks, the modulation Linear starts at zero (Peebles & Xie 2023)."""

import torch
from torch import nn


class AdaLNBlock(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.ada = nn.Linear(d, 3 * d)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale, gate = self.ada(c).chunk(3, dim=-1)
        return x + gate * self.mlp(self.norm(x) * (1 + scale) + shift)


class AdaLNZeroNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(32, 64)
        self.cond = nn.Linear(8, 64)
        self.blocks = nn.ModuleList(AdaLNBlock(64) for _ in range(4))
        self.out = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h, e = self.inp(x), torch.nn.functional.silu(self.cond(c))
        for blk in self.blocks:
            h = blk(h, e)
        return self.out(h)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(8, 32), torch.randn(8, 8))
