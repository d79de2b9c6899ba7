import torch
import torch.nn as nn


class DeepGLUMLP(nn.Module):
    """24 plain GLU layers (Linear d -> 2d, F.glu): each gated product sigmoid(b)*a shrinks the signal,
    and no skip or normalisation restores it."""

    def __init__(self, d=64, depth=24):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(d, 2 * d) for _ in range(depth))
        self.glu = nn.GLU(dim=-1)
        self.head = nn.Linear(d, 10)

    def forward(self, x):
        for lin in self.layers:
            x = self.glu(lin(x))
        return self.head(x)


def example_inputs():
    return (torch.randn(16, 64),)
