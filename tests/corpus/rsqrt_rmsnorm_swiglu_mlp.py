import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    """LLaMA-style RMSNorm written as x * rsqrt(mean(x^2))."""

    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(d)), eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class SwiGLU(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.w1, self.w3, self.w2 = nn.Linear(d, hidden, bias=False), nn.Linear(d, hidden, bias=False), nn.Linear(hidden, d, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class RMSNormSwiGLUResMLP(nn.Module):
    """Pre-norm residual stack of SwiGLU MLPs with a functional RMSNorm, 16 blocks (LLaMA's MLP half)."""

    def __init__(self, d=64, depth=16):
        super().__init__()
        self.norms = nn.ModuleList(RMSNorm(d) for _ in range(depth))
        self.mlps = nn.ModuleList(SwiGLU(d, 172) for _ in range(depth))
        self.final = RMSNorm(d)
        self.head = nn.Linear(d, 10)

    def forward(self, x):
        for n, m in zip(self.norms, self.mlps):
            x = x + m(n(x))
        return self.head(self.final(x))


def example_inputs():
    return (torch.randn(16, 64),)
