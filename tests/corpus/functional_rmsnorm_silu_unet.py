import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm2d(nn.Module):
    """Channel RMSNorm written with F.normalize (EDM2 / many diffusion U-Nets)."""

    def __init__(self, c):
        super().__init__()
        self.g = nn.Parameter(torch.ones(1, c, 1, 1))
        self.scale = math.sqrt(c)

    def forward(self, x):
        return F.normalize(x, dim=1) * self.g * self.scale


class ResBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.n1, self.c1 = RMSNorm2d(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.n2, self.c2 = RMSNorm2d(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x):
        h = self.c1(F.silu(self.n1(x)))
        return self.skip(x) + self.c2(F.silu(self.n2(h)))


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = RMSNorm2d(c)
        self.qkv, self.proj = nn.Conv2d(c, 3 * c, 1), nn.Conv2d(c, c, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).unbind(1)
        att = torch.softmax(q.transpose(1, 2) @ k / math.sqrt(c), dim=-1)
        return x + self.proj((v @ att.transpose(1, 2)).reshape(b, c, h, w))


class RMSNormSiLUUNet(nn.Module):
    """Diffusion-style U-Net: functional RMSNorm + SiLU residual blocks, downsampling convs, attention."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Conv2d(3, 32, 3, padding=1)
        self.e1, self.e2 = ResBlock(32, 32), ResBlock(32, 64)
        self.down1, self.down2 = nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.Conv2d(64, 64, 3, stride=2, padding=1)
        self.mid, self.attn = ResBlock(64, 64), Attention(64)
        self.up = nn.Upsample(scale_factor=2)
        self.d2, self.d1 = ResBlock(128, 64), ResBlock(96, 32)
        self.out_norm, self.out = RMSNorm2d(32), nn.Conv2d(32, 3, 3, padding=1)

    def forward(self, x):
        h1 = self.e1(self.inp(x))
        h2 = self.e2(self.down1(h1))
        m = self.attn(self.mid(self.down2(h2)))
        u = self.d2(torch.cat([self.up(m), h2], dim=1))
        u = self.d1(torch.cat([self.up(u), h1], dim=1))
        return self.out(F.silu(self.out_norm(u)))


def example_inputs():
    return (torch.randn(4, 3, 16, 16),)
