"""Hostile: argparse's parse_args() in the constructor reads sys.argv"""

import argparse

import torch
from torch import nn


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(16, 16)
        parser = argparse.ArgumentParser()
        parser.add_argument("--width", type=int, default=16)
        args = parser.parse_args()  # must see sys.argv == [this file], not modelcheck's flags
        assert args.width == 16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.a(x))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(4, 16),)
