"""Hostile: a non-daemon thread that keeps printing"""

import sys
import threading
import time

import torch
from torch import nn


def _chatter() -> None:
    while True:
        sys.__stdout__.write('{not json from a thread}\n')
        time.sleep(0.01)


threading.Thread(target=_chatter).start()  # not a daemon: keeps the process alive


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.a(x))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(4, 16),)
