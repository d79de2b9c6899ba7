import torch
import torch.nn as nn
import torch.nn.functional as F


def zero_module(m):
    for p in m.parameters():
        nn.init.zeros_(p)
    return m


class ResBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(8, cout)
        self.conv2 = zero_module(nn.Conv2d(cout, cout, 3, padding=1))  # guided-diffusion style
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        return self.skip(x) + self.conv2(F.silu(self.norm2(h)))


class ZeroModuleUNet(nn.Module):
    """Two-level diffusion U-Net: GroupNorm+SiLU residual blocks whose last conv is zero_module'd, and a
    zero-initialised output conv (Dhariwal & Nichol 2021)."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Conv2d(3, 32, 3, padding=1)
        self.d1, self.d2 = ResBlock(32, 32), ResBlock(32, 64)
        self.down = nn.Conv2d(32, 32, 3, stride=2, padding=1)
        self.mid = ResBlock(64, 64)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.u2, self.u1 = ResBlock(128, 64), ResBlock(96, 32)
        self.out_norm = nn.GroupNorm(8, 32)
        self.out = zero_module(nn.Conv2d(32, 3, 3, padding=1))

    def forward(self, x):
        h1 = self.d1(self.inp(x))
        h2 = self.d2(self.down(h1))
        m = self.mid(h2)
        u = self.u2(torch.cat([m, h2], dim=1))
        u = self.u1(torch.cat([self.up(u), h1], dim=1))
        return self.out(F.silu(self.out_norm(u)))


def example_inputs():
    return (torch.randn(4, 3, 16, 16),)
