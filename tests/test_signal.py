"""The signal pass predicts SPEC §2 gains from the graph and initial weights; these tests compare the
prediction with a direct autograd measurement on data-driven model families (THEORY §3.3)."""

from __future__ import annotations

import math

import pytest
import torch
from gains import log_err, measure_gains
from torch import nn

from modelcheck.passes import PassContext, run_passes
from modelcheck.passes.facts import SIGNAL
from modelcheck.passes.signal.ops import valid_tap_fraction
from modelcheck.trace.tracers import trace_model


def mlp(depth: int, width: int, act: type[nn.Module], init: str | None, bias: bool = True) -> nn.Module:
    layers: list[nn.Module] = [nn.Linear(32, width, bias=bias), act()]
    for _ in range(depth - 2):
        layers += [nn.Linear(width, width, bias=bias), act()]
    layers.append(nn.Linear(width, 8, bias=bias))
    net = nn.Sequential(*layers)
    for m in net.modules():
        if isinstance(m, nn.Linear) and init is not None:
            {"kaiming": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
             "xavier": nn.init.xavier_normal_,
             "normal": lambda w: nn.init.normal_(w, 0.0, 1.0)}[init](m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return net


class Residual(nn.Module):
    def __init__(self, width: int, blocks: int, mode: str) -> None:
        super().__init__()
        self.mode = mode
        self.fc1 = nn.ModuleList(nn.Linear(width, width) for _ in range(blocks))
        self.fc2 = nn.ModuleList(nn.Linear(width, width) for _ in range(blocks))
        self.norms = nn.ModuleList(nn.BatchNorm1d(width) for _ in range(blocks))
        self.alpha = nn.Parameter(torch.zeros(blocks)) if mode == "rezero" else None
        for a, b in zip(self.fc1, self.fc2):
            nn.init.kaiming_normal_(a.weight, nonlinearity="relu")
            nn.init.kaiming_normal_(b.weight, nonlinearity="relu")
            if mode == "fixup":
                nn.init.zeros_(b.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, (a, b, n) in enumerate(zip(self.fc1, self.fc2, self.norms)):
            h = b(torch.relu(a(n(x) if self.mode == "bn" else x)))
            x = x + (h if self.alpha is None else self.alpha[i] * h)
        return x


class CNN(nn.Module):
    def __init__(self, transposed: bool = False) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=2, dilation=2, groups=2), nn.ReLU(),
            nn.ConvTranspose2d(32, 16, 2, stride=2) if transposed else nn.Conv2d(32, 16, 1), nn.ReLU(),
            nn.Conv2d(16, 8, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Tokens(nn.Module):
    def __init__(self, norm_first: bool) -> None:
        super().__init__()
        self.emb = nn.Embedding(100, 32)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True, norm_first=norm_first)
            for _ in range(4))
        self.norm = nn.LayerNorm(32)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.emb(ids)
        for layer in self.layers:
            h = layer(h)
        return self.norm(h)


class MHABlocks(nn.Module):
    """Custom post-LN blocks around nn.MultiheadAttention: fx keeps the attention as one leaf."""

    def __init__(self, layers: int = 6, d: int = 32) -> None:
        super().__init__()
        self.emb = nn.Embedding(100, d)
        self.attn = nn.ModuleList(nn.MultiheadAttention(d, 4, batch_first=True) for _ in range(layers))
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(layers))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.emb(ids)
        for attn, norm in zip(self.attn, self.norms):
            h = norm(h + attn(h, h, h, need_weights=False)[0])
        return h


class Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        self.rnn = nn.LSTM(16, 32, batch_first=True)
        self.head = nn.Linear(32, 16)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(self.emb(ids))[0])


X = lambda *s: torch.randn(*s)  # noqa: E731
IDS = lambda *s: torch.randint(0, 50, s)  # noqa: E731

# (id, model factory, inputs factory, tolerance in decades)
CASES = [
    ("kaiming-relu-20", lambda: mlp(20, 128, nn.ReLU, "kaiming"), lambda: (X(64, 32),), 0.3),
    ("default-tanh-30", lambda: mlp(30, 128, nn.Tanh, None), lambda: (X(64, 32),), 0.5),
    ("default-relu-30", lambda: mlp(30, 128, nn.ReLU, None), lambda: (X(64, 32),), 0.5),
    ("xavier-relu-20", lambda: mlp(20, 128, nn.ReLU, "xavier"), lambda: (X(64, 32),), 0.4),
    ("normal-relu-10", lambda: mlp(10, 128, nn.ReLU, "normal"), lambda: (X(64, 32),), 0.5),
    ("sigmoid-15", lambda: mlp(15, 128, nn.Sigmoid, None), lambda: (X(64, 32),), 0.5),
    ("gelu-no-bias-12", lambda: mlp(12, 128, nn.GELU, "kaiming", bias=False), lambda: (X(64, 32),), 0.4),
    ("residual-plain-20", lambda: Residual(64, 20, "plain"), lambda: (X(64, 64),), 0.6),
    ("residual-fixup-20", lambda: Residual(64, 20, "fixup"), lambda: (X(64, 64),), 0.2),
    ("residual-rezero-20", lambda: Residual(64, 20, "rezero"), lambda: (X(64, 64),), 0.2),
    ("residual-bn-20", lambda: Residual(64, 20, "bn"), lambda: (X(64, 64),), 0.6),
    ("cnn", lambda: CNN(), lambda: (X(8, 3, 16, 16),), 0.3),
    ("cnn-transposed", lambda: CNN(transposed=True), lambda: (X(8, 3, 16, 16),), 0.3),
    ("postln-4", lambda: Tokens(False), lambda: (IDS(4, 16),), 0.5),
    ("preln-4", lambda: Tokens(True), lambda: (IDS(4, 16),), 0.5),
    ("lstm", lambda: Recurrent(), lambda: (IDS(8, 12),), 0.3),
    ("mha-leaf-postln-6", lambda: MHABlocks(), lambda: (IDS(4, 16),), 0.4),
]


def predict(model: nn.Module, inputs: tuple[torch.Tensor, ...]):
    graph = trace_model(model, inputs)
    run_passes(graph, ["signal"], PassContext(inputs=inputs, model=model))
    return graph


@pytest.mark.parametrize("name,make,make_inputs,tol", CASES, ids=[c[0] for c in CASES])
def test_predicted_gains_match_measurement(name, make, make_inputs, tol) -> None:
    torch.manual_seed(0)
    model, inputs = make(), make_inputs()
    graph = predict(model, inputs)
    summary = graph.facts[SIGNAL]
    fwd, bwd = measure_gains(model, inputs)
    assert log_err(summary.forward_gain, fwd) <= tol, (summary.forward_gain, fwd)
    assert log_err(summary.backward_gain, bwd) <= tol, (summary.backward_gain, bwd)


def test_every_float_node_gets_a_state() -> None:
    torch.manual_seed(0)
    model, inputs = Residual(16, 3, "bn"), (X(8, 16),)
    graph = predict(model, inputs)
    floats = [n for n in graph.nodes if n.meta is not None and n.meta.is_float and n.op.value != "param"]
    assert floats and all(SIGNAL in n.facts for n in floats)


def test_prediction_does_not_run_the_model() -> None:
    """The pass reads weights and shapes only: a model whose forward now raises still gets gains."""
    torch.manual_seed(0)
    model, inputs = mlp(6, 32, nn.ReLU, "kaiming"), (X(8, 32),)
    graph = trace_model(model, inputs)
    model.forward = lambda *a: (_ for _ in ()).throw(RuntimeError("ran"))  # type: ignore[method-assign]
    run_passes(graph, ["signal"], PassContext(inputs=inputs))
    assert graph.facts[SIGNAL].forward_gain is not None


@pytest.mark.parametrize("n,k,s,p,d", [(8, 3, 1, 1, 1), (7, 3, 2, 1, 1), (16, 3, 1, 2, 2), (5, 5, 1, 0, 1), (9, 2, 2, 0, 1)])
def test_valid_tap_fraction_matches_a_conv_of_ones(n, k, s, p, d) -> None:
    m = (n + 2 * p - d * (k - 1) - 1) // s + 1
    conv = nn.Conv1d(1, 1, k, stride=s, padding=p, dilation=d, bias=False)
    nn.init.ones_(conv.weight)
    with torch.no_grad():
        counted = float(conv(torch.ones(1, 1, n)).sum()) / (m * k)
    assert math.isclose(valid_tap_fraction([n], [k], [s], [p], [d], [m]), counted, rel_tol=1e-9)
