"""Hostile: a Fourier-neural-operator layer (rfft, complex weights, irfft) with a pointwise skip."""

import torch
from torch import nn


class SpectralConv1d(nn.Module):
    def __init__(self, c: int, modes: int) -> None:
        super().__init__()
        self.modes = modes
        scale = 1.0 / (c * c)
        self.weight = nn.Parameter(scale * torch.randn(c, c, modes, dtype=torch.cfloat))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = torch.fft.rfft(x)
        out = torch.zeros_like(xf)
        out[..., : self.modes] = torch.einsum("bix,iox->box", xf[..., : self.modes], self.weight)
        return torch.fft.irfft(out, n=x.shape[-1])


class Fno1d(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lift = nn.Conv1d(2, 16, 1)
        self.spectral = nn.ModuleList(SpectralConv1d(16, 8) for _ in range(2))
        self.pointwise = nn.ModuleList(nn.Conv1d(16, 16, 1) for _ in range(2))
        self.proj = nn.Conv1d(16, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.lift(x)
        for spec, pw in zip(self.spectral, self.pointwise):
            h = torch.nn.functional.gelu(spec(h) + pw(h))
        return self.proj(h)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(4, 2, 64, generator=torch.Generator().manual_seed(0)),)
