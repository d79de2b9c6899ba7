"""A training script: top-level code that must never run when the folder is linted."""

import torch
from torch import nn

from model import TinyMLP
from sentinel import touch


class Probe(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


touch("train")
model = TinyMLP()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(3):
    loss = model(torch.randn(8, 12)).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
