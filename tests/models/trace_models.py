"""Fixture models for the tracer tests. Tests find construction lines by their text, so keep each
layer's construction on its own line."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class KaimingMLP(nn.Module):
    def __init__(self, width: int = 32, depth: int = 3) -> None:
        super().__init__()
        self.inp = nn.Linear(16, width)
        self.hidden = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
        self.out = nn.Linear(width, 4)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.inp(x))
        for layer in self.hidden:
            h = F.relu(layer(h))
        return self.out(h)

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.randn(8, 16),)


class ResidualBlock(nn.Module):
    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, 2 * width)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(2 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(self.act(self.fc1(self.norm(x))))

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.randn(4, 6, 32),)


class ReZero(nn.Module):
    def __init__(self, width: int = 32, blocks: int = 2) -> None:
        super().__init__()
        self.fcs = nn.ModuleList(nn.Linear(width, width) for _ in range(blocks))
        self.alpha = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for fc in self.fcs:
            x = x + self.alpha * torch.tanh(fc(x))
        return x

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.randn(8, 32),)


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flat = nn.Flatten()
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.head(self.flat(self.gap(x)))

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.randn(4, 3, 16, 16),)


class TransformerStack(nn.Module):
    def __init__(self, d: int = 32, layers: int = 2) -> None:
        super().__init__()
        self.embed = nn.Linear(8, d)
        layer = nn.TransformerEncoderLayer(d, 4, 2 * d, dropout=0.1, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.embed(x))

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.randn(2, 5, 8),)


class EncoderLayers(nn.Module):
    """nn.TransformerEncoderLayer called directly: its fused fast-path checks branch on ``src.dim()``."""

    def __init__(self, d: int = 16) -> None:
        super().__init__()
        self.layers = nn.ModuleList([
            nn.TransformerEncoderLayer(d, 2, 2 * d, dropout=0.0, batch_first=True, norm_first=first)
            for first in (False, True)
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.randn(2, 5, 16),)


class ShapeBranch(nn.Module):
    """Python control flow on a shape: fx cannot follow it, torch.export can."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > 1:
            x = x * 2.0
        return self.fc(x)

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.randn(4, 8),)


class DataBranch(nn.Module):
    """Control flow on tensor values: neither fx nor export can follow it."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            x = torch.tanh(x)
        else:
            x = torch.sigmoid(x)
        return self.fc(x)

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.ones(4, 8),)


class NumpyRoundTrip(nn.Module):
    """A numpy round-trip and a loop driven by ``.item()``: only an eager run can follow it."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(8, 8)
        self.fc2 = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)
        gate = torch.from_numpy(np.tanh(h.detach().numpy()))
        h = h * gate
        for _ in range(int(x.abs().sum().item() > 0) + 1):
            h = self.fc2(F.relu(h))
        return h

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.randn(4, 8),)


class LSTMTagger(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.lstm = nn.LSTM(16, 24, batch_first=True)
        self.head = nn.Linear(24, 5)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, (h, c) = self.lstm(self.embed(ids))
        return self.head(out)

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.randint(0, 50, (3, 7)),)


class Attention(nn.Module):
    """MultiheadAttention as a module, SDPA as a function, a chunk and a softmax."""

    def __init__(self, d: int = 16) -> None:
        super().__init__()
        self.mha = nn.MultiheadAttention(d, 2, batch_first=True)
        self.qk = nn.Linear(d, 2 * d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, _ = self.mha(x, x, x)
        q, k = self.qk(a).chunk(2, dim=-1)
        y = F.scaled_dot_product_attention(q, k, a, is_causal=True)
        return y + torch.softmax(q @ k.transpose(-2, -1) / 4.0, dim=-1) @ a

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.randn(2, 5, 16),)


class DictOutput(nn.Module):
    """Returns a dict: the OUTPUT node lists the floating tensors, ``last_hidden_state`` first."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.fc(x)
        return {"logits": self.head(h), "ids": h.argmax(-1), "last_hidden_state": h}

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.randn(4, 8),)


class FunctionalZoo(nn.Module):
    """Functional forms of activations, norms, pooling, resampling and joins, one after another."""

    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(x, 0.2) + F.elu(x) + F.selu(x) + F.celu(x, 0.5) + F.gelu(x, approximate="tanh")
        h = F.silu(h) * F.mish(h) - torch.sigmoid(h) / 3.0 + F.hardtanh(h) + F.softplus(h, 2.0) + h.clamp(min=0)
        h = F.layer_norm(h, (8,), self.gain) + F.group_norm(h, 2) + F.rms_norm(h, (8,)) + F.dropout(h, 0.3)
        a, b = torch.chunk(F.max_pool1d(h, 2), 2, dim=1)
        h = torch.cat([a, b], dim=1) + F.avg_pool1d(h, 2) + F.adaptive_avg_pool1d(h, 4).mean(-1, keepdim=True)
        h = F.interpolate(F.pad(h, (1, 1)), scale_factor=2.0) ** 2
        return F.log_softmax(h.flatten(1), dim=-1) + (-h).exp().sum((1, 2)).unsqueeze(-1)

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.randn(2, 4, 8),)


class Stateful(nn.Module):
    """Writes its buffers in the forward: a counter in place, a cache reassigned, a Python attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("last", torch.zeros(1, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)
        self.steps += 1
        self.last = h.detach()[:1].clone()
        self.seen = h.shape[0]
        return h

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.randn(4, 8),)


class Gate(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.fc(x).chunk(2, dim=-1)
        return a * torch.sigmoid(b)


class Scripted(nn.Module):
    """A TorchScript submodule: opaque to every tracer, kept as one node."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(8, 8)
        self.gate = torch.jit.script(Gate())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        return h + self.gate(h)

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.randn(4, 8),)


class Parametrized(nn.Module):
    """weight_norm / spectral_norm: the weight the layer multiplies by is computed in the forward."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.utils.parametrizations.weight_norm(nn.Linear(8, 8))
        self.b = nn.utils.parametrizations.spectral_norm(nn.Linear(8, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x)))

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.randn(4, 8),)


MODELS = [KaimingMLP, ResidualBlock, ReZero, SmallCNN, TransformerStack, EncoderLayers, ShapeBranch, DataBranch, NumpyRoundTrip,
          LSTMTagger, Attention, DictOutput, FunctionalZoo,
          Stateful, Scripted, Parametrized]
