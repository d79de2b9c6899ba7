"""Hostile: C printf to stdout"""

import ctypes

import torch
from torch import nn

_libc = ctypes.CDLL(None)
_libc.printf(b'{not json from C printf}\n')
_libc.fflush(None)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.a(x))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(4, 16),)
