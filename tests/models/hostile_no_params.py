"""Hostile: a model without a single parameter (pooling, a fixed filter buffer, softmax)."""

import torch
from torch import nn


class ParameterFree(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(2)
        self.register_buffer("blur", torch.full((3, 1, 3, 3), 1.0 / 9.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.nn.functional.conv2d(x, self.blur, padding=1, groups=3)
        h = self.pool(torch.relu(h))
        return torch.softmax(h.flatten(1), dim=-1)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)),)
