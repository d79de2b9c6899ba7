import torch
import torch.nn as nn


class ExpActivationMLP(nn.Module):
    """12 Kaiming-initialised layers with an exponential activation: each layer exponentiates the
    previous one's scale, and the forward overflows float32."""

    def __init__(self, d=64, depth=12):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(d, d) for _ in range(depth))
        for lin in self.layers:
            nn.init.kaiming_normal_(lin.weight)
        self.head = nn.Linear(d, 10)

    def forward(self, x):
        for lin in self.layers:
            x = torch.exp(lin(x))
        return self.head(x)


def example_inputs():
    return (torch.randn(16, 64),)
