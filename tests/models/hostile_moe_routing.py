"""Hostile: top-1 mixture-of-experts routing (argmax, boolean-mask indexing, index_add_)."""

import torch
from torch import nn


class Top1Moe(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(16, 32)
        self.router = nn.Linear(32, 4)
        self.experts = nn.ModuleList(nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 32)) for _ in range(4))
        self.out = nn.Linear(32, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        gate = torch.softmax(self.router(h), dim=-1)
        choice = gate.argmax(-1)
        mixed = torch.zeros_like(h)
        for i, expert in enumerate(self.experts):
            idx = (choice == i).nonzero(as_tuple=True)[0]  # data-dependent shape
            if idx.numel():
                mixed.index_add_(0, idx, expert(h[idx]) * gate[idx, i : i + 1])
        return self.out(h + mixed)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(16, 16, generator=torch.Generator().manual_seed(0)),)
