"""The repository's model: a small MLP with its own config constants."""

from __future__ import annotations

import torch
from torch import nn

try:
    import not_installed_accelerator  # noqa: F401 - optional, as real code has
except ImportError:
    not_installed_accelerator = None

HIDDEN = 48


class TinyMLP(nn.Module):
    def __init__(self, in_features: int = 12, hidden: int = HIDDEN, out_features: int = 3) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


if __name__ == "__main__":
    print(TinyMLP()(torch.randn(2, 12)).shape)
