"""Symptom measurements: ReLU activity, norm input rows, attention entropy (functional, SDPA, MHA)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from modelcheck.probe.symptoms import SymptomProbe, normalized_entropy

CPU = torch.device("cpu")


class DotAttention(nn.Module):
    def __init__(self, d: int, scaled: bool, use_sdpa: bool = False) -> None:
        super().__init__()
        self.q, self.k, self.v = (nn.Linear(d, d, bias=False) for _ in range(3))
        for lin in (self.q, self.k):
            nn.init.normal_(lin.weight, 0.0, 1.0 / math.sqrt(d))  # unit-variance queries and keys
        self.scaled, self.use_sdpa = scaled, use_sdpa

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.q(x).unsqueeze(1), self.k(x).unsqueeze(1), self.v(x).unsqueeze(1)  # (B, 1, T, d)
        if self.use_sdpa:
            return F.scaled_dot_product_attention(q, k, v, is_causal=True).squeeze(1)
        scores = q @ k.transpose(-2, -1)
        if self.scaled:
            scores = scores / math.sqrt(q.shape[-1])
        return (F.softmax(scores, dim=-1) @ v).squeeze(1)


class Wrapper(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.attn = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(x)


def measure(model: nn.Module, *inputs: torch.Tensor, watch: frozenset[str] = frozenset()):
    probe = SymptomProbe(model, CPU, watch)
    with probe:
        model(*inputs)
    return probe.result(0)


def test_entropy_of_uniform_and_one_hot_rows() -> None:
    uniform = torch.full((2, 5, 8), 1 / 8)
    one_hot = F.one_hot(torch.zeros(2, 5, dtype=torch.long), 8).float()
    allowed = torch.ones(2, 5, 8, dtype=torch.bool)
    assert normalized_entropy(uniform, allowed).item() == pytest.approx(1.0)
    assert normalized_entropy(one_hot, allowed).item() == pytest.approx(0.0, abs=1e-6)


def test_unscaled_attention_has_low_entropy_and_scaled_does_not() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 32, 256)
    low = measure(Wrapper(DotAttention(256, scaled=False)), x).attention_entropy
    torch.manual_seed(0)
    high = measure(Wrapper(DotAttention(256, scaled=True)), x).attention_entropy
    assert set(low) == {"attn"} and set(high) == {"attn"}  # attributed to the module that ran it
    assert low["attn"] < 0.3 < high["attn"]


def test_sdpa_entropy_respects_the_causal_mask() -> None:
    torch.manual_seed(0)
    d = 16
    model = Wrapper(DotAttention(d, scaled=True, use_sdpa=True))
    with torch.no_grad():
        model.attn.q.weight.zero_()  # all scores 0: each row uniform over its allowed (causal) keys
    ent = measure(model, torch.randn(2, 10, d)).attention_entropy
    assert ent["attn"] == pytest.approx(1.0, abs=1e-5)


def test_multihead_attention_module_is_measured() -> None:
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(32, 4, batch_first=True)

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mha = mha

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.mha(x, x, x, need_weights=False)[0]

    ent = measure(Block(), torch.randn(2, 12, 32)).attention_entropy
    assert set(ent) == {"mha"} and 0.5 < ent["mha"] <= 1.0


def test_classifier_softmax_is_not_attention() -> None:
    model = nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=-1))
    assert measure(model, torch.randn(5, 4)).attention_entropy == {}


def test_relu_activity_and_watched_modules() -> None:
    torch.manual_seed(0)
    lin = nn.Linear(16, 64)
    with torch.no_grad():
        lin.bias.fill_(-3.0)  # pre-activations ~ N(-3, <1): almost never positive
    model = nn.Sequential(lin, nn.ReLU(), nn.Linear(64, 2))
    got = measure(model, torch.randn(128, 16), watch=frozenset({"0"})).relu_active
    assert set(got) == {"0", "1"}
    assert got["1"] < 0.1 and got["0"] == pytest.approx(got["1"])


def test_norm_rows() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8, eps=1e-12))
    x = torch.randn(6, 8)
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].bias.fill_(0.5)  # every row constant: row std 0, normalisation is all eps
    rows = measure(model, x).norm_row_std
    assert rows["1"] == (0.0, 1e-12)
