"""A ConvNeXt-style network built only through registered factory functions taking ``**kwargs``."""

from __future__ import annotations

import torch
from torch import nn

from .registry import register_model


class LayerNorm2d(nn.LayerNorm):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = LayerNorm2d(dim)
        self.pwconv1 = nn.Conv2d(dim, 4 * dim, 1)
        self.act = nn.GELU()
        self.pwconv2 = nn.Conv2d(4 * dim, dim, 1)
        self.gamma = nn.Parameter(1e-6 * torch.ones(dim, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.gamma * self.pwconv2(self.act(self.pwconv1(self.norm(self.dwconv(x)))))


class ConvNeXt(nn.Module):
    def __init__(self, depths: tuple[int, ...], dims: tuple[int, ...], in_chans: int = 3, num_classes: int = 10) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_chans, dims[0], kernel_size=4, stride=4), LayerNorm2d(dims[0])]
        for i, (depth, dim) in enumerate(zip(depths, dims)):
            if i > 0:
                layers += [LayerNorm2d(dims[i - 1]), nn.Conv2d(dims[i - 1], dim, kernel_size=2, stride=2)]
            layers += [ConvBlock(dim) for _ in range(depth)]
        self.stages = nn.Sequential(*layers)
        self.head = nn.Linear(dims[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(x)
        if x.shape[-1] != 7:  # 224 / 32: the network expects ImageNet-size images
            raise RuntimeError(f"expected a 7x7 final feature map, got {tuple(x.shape[-2:])}")
        return self.head(x.mean((-2, -1)))


@register_model
def convnext_atto(pretrained: bool = False, **kwargs) -> ConvNeXt:  # noqa: ANN003
    return ConvNeXt(depths=(1, 1, 1, 1), dims=(8, 16, 24, 32), **kwargs)


@register_model
def convnext_small(pretrained=False, **kwargs):  # noqa: ANN001,ANN003,ANN201 - unannotated, as in timm
    return ConvNeXt(depths=(2, 2, 4, 2), dims=(16, 32, 64, 128), **kwargs)


def build_optimizer(model, lr=1e-3):  # noqa: ANN001,ANN201 - takes no model: not a factory
    return torch.optim.AdamW(model.parameters(), lr=lr)


def download_weights(url: str = "https://example.invalid/weights.pt") -> None:
    raise AssertionError("a function that is not a model factory was called")
