"""MC103 good: sigmoid/tanh only as gates - LSTM, GLU, squeeze-and-excitation, SwiGLU, tanh-GELU."""

import math

import torch
from torch import nn


class SE(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, d // 4), nn.Linear(d // 4, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(x))))


class GatedStack(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(100, 32)
        self.lstm = nn.LSTM(32, 32, num_layers=2, batch_first=True)
        self.glu = nn.ModuleList(nn.Linear(32, 64) for _ in range(4))
        self.se = nn.ModuleList(SE(32) for _ in range(4))
        self.gate = nn.ModuleList(nn.Linear(32, 32) for _ in range(4))
        self.up = nn.ModuleList(nn.Linear(32, 32) for _ in range(4))
        self.down = nn.ModuleList(nn.Linear(32, 32) for _ in range(4))
        self.head = nn.Linear(32, 8)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(self.emb(ids))
        for glu, se, g, u, d in zip(self.glu, self.se, self.gate, self.up, self.down):
            a, b = glu(h).chunk(2, dim=-1)
            h = se(a * torch.sigmoid(b))
            h = d(nn.functional.silu(g(h)) * u(h))
            h = 0.5 * h * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (h + 0.044715 * h * h * h)))
        return self.head(h)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randint(0, 100, (4, 12)),)
