import torch
import torch.nn as nn


class ZeroMiddlePlainMLP(nn.Module):
    """A plain 8-layer ReLU MLP with one hidden layer zero-initialised: no residual carries the signal
    around it, so everything above it sees zeros and everything below gets no gradient."""

    def __init__(self):
        super().__init__()
        layers = []
        for i in range(8):
            lin = nn.Linear(64, 64)
            nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
            nn.init.zeros_(lin.bias)
            if i == 3:
                nn.init.zeros_(lin.weight)
            layers += [lin, nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(64, 10))

    def forward(self, x):
        return self.net(x)


def example_inputs():
    return (torch.randn(16, 64),)
