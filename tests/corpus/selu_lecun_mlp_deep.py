import torch
import torch.nn as nn


class SELULeCunMLP(nn.Module):
    """Self-normalising network (Klambauer et al. 2017): 32 SELU layers, LeCun-normal init, no skips."""

    def __init__(self, d=128, depth=32):
        super().__init__()
        layers = []
        for _ in range(depth):
            lin = nn.Linear(d, d)
            nn.init.kaiming_normal_(lin.weight, nonlinearity="linear")  # LeCun normal: std 1/sqrt(fan_in)
            nn.init.zeros_(lin.bias)
            layers += [lin, nn.SELU()]
        self.net = nn.Sequential(nn.Linear(64, d), nn.SELU(), *layers, nn.Linear(d, 10))
        nn.init.kaiming_normal_(self.net[0].weight, nonlinearity="linear")
        nn.init.zeros_(self.net[0].bias)

    def forward(self, x):
        return self.net(x)


def example_inputs():
    return (torch.randn(16, 64),)
