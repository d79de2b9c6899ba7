"""MC201-MC204 on hand-built graphs (independent of the tracers): each case names the codes it must
raise with their worst severity and the codes it must not raise at warning or above."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from _mc2_ir import B, analyse, mlp, violations
from torch import nn

import modelcheck_rules.init.bad_init_scale as mc201
import modelcheck_rules.init.dead_relu as mc204
import modelcheck_rules.init.embedding_scale as mc203
import modelcheck_rules.init.zero_init as mc202
from modelcheck.diagnostics import Severity
from modelcheck.ir import Graph, Op
from modelcheck.rule import Violation

I, W, E = Severity.INFO, Severity.WARNING, Severity.ERROR
RULES = {"MC201": mc201, "MC202": mc202, "MC203": mc203, "MC204": mc204}


def residual(blocks: int, *, last: str = "kaiming", gate: float | None = None, bn_gamma_zero: bool = False) -> Graph:
    b = B()
    h = b.linear(b.input(64), 64, 128, "inp")
    for i in range(blocks):
        t = b.linear(h, 128, 128, f"blocks.{i}.fc1", "kaiming", "zeros")
        t = b.act(b.norm(t, f"blocks.{i}.bn1", "batch") if bn_gamma_zero else t, "relu")
        t = b.linear(t, 128, 128, f"blocks.{i}.fc2", last, "zeros")
        if bn_gamma_zero:
            t = b.norm(t, f"blocks.{i}.bn2", "batch", gamma="zeros")
        if gate is not None:
            t = b.mul(b.param(f"blocks.{i}.alpha", torch.full((), gate)), t)
        h = b.add(h, t)
    return b.graph(b.linear(h, 128, 10, "out"))


def two_layer(w1: object, b1: object = "default", fn: str = "tanh", w2: object = "default",
              frozen: bool = False) -> Graph:
    b = B()
    h = b.act(b.linear(b.input(32), 32, 64, "fc1", w1, b1), fn)
    h = b.act(b.linear(h, 64, 64, "fc2", w2), fn)
    g = b.graph(b.linear(h, 64, 10, "out"))
    if frozen:
        g.parameters["fc1.weight"].requires_grad_(False)
    return g


def bn_mlp(depth: int) -> Graph:
    b = B()
    h = b.input(64)
    for i in range(depth):
        h = b.act(b.norm(b.linear(h, 64 if i == 0 else 128, 128, f"fc{i}", "xavier"), f"bn{i}", "batch"), "relu")
    return b.graph(b.linear(h, 128, 10, "head"))


def deconv(layers: int, weight: str) -> Graph:
    b = B(batch=2)
    h = b.input(8, 2, 2)
    for i in range(layers):
        h = b.conv(h, 8, 8, f"up.{i}", k=4, stride=2, transposed=True, weight=weight, bias="zeros")
        if i < layers - 1:
            h = b.act(h, "relu")
    return b.graph(h)


def lm(std: float | None, tied: bool, matmul_head: bool = False) -> Graph:
    b = B()
    x = b.embedding(b.ids(16), 1000, 256, "tok", torch.randn(1000, 256) * std if std is not None else "default")
    x = b.norm(x, "ln")
    if matmul_head:
        y = b.matmul(x, b.reshape(b.param("tok.weight", b.params["tok.weight"]), 256, 1000), (8, 16, 1000))
        return b.graph(y)
    head = b.linear(x, 256, 1000, "head", bias=None)
    if tied:
        head.params = {"weight": "tok.weight"}
    return b.graph(head)


def bias_relu(bias: object, width: int = 256) -> Graph:
    b = B()
    h = b.act(b.linear(b.input(width), width, width, "fc1", "kaiming", bias), "relu")
    return b.graph(b.linear(h, width, 10, "head"))


def small_head(softmax: bool) -> Graph:
    """Kaiming body, a head with std 1e-4 (policy / DDPG-style small output layers)."""
    b = B()
    h = b.input(64)
    for i in range(4):
        h = b.act(b.linear(h, 64, 64, f"fc{i}", "kaiming", "zeros"), "relu")
    h = b.linear(h, 64, 10, "head", torch.randn(10, 64) * 1e-4, "zeros")
    if softmax:
        h = b._add(Op.SOFTMAX, "log_softmax", (h,), dim=-1, log=True)
    return b.graph(h)


def parallel_bad(chains: int) -> Graph:
    b = B()
    x = b.input(32)
    outs = []
    for c in range(chains):
        h = x
        for i in range(16):
            h = b.act(b.linear(h, 32 if i == 0 else 64, 64, f"c{c}.{i}", "xavier", "zeros"), "relu")
        outs.append(h)
    return b.graph(*outs)


Case = tuple[Callable[[], Graph], dict[str, Severity], tuple[str, ...]]
ALL = tuple(RULES)
CASES: dict[str, Case] = {
    # MC201: cumulative init scale over plain segments
    "xavier-relu-30": (lambda: mlp(30, 128, "relu", "xavier", "zeros"), {"MC201": E}, ("MC202", "MC204")),
    "normal-relu-20": (lambda: mlp(20, 128, "relu", "normal", "zeros"), {"MC201": E}, ("MC202",)),
    "tanh-default-50": (lambda: mlp(50, 128, "tanh"), {"MC201": E}, ("MC202", "MC204")),
    "gelu-kaiming-30": (lambda: mlp(30, 128, "gelu", "kaiming", "zeros"), {"MC201": W}, ()),
    "relu-default-6": (lambda: mlp(6, 128, "relu"), {"MC201": I}, ALL),
    "relu-default-3": (lambda: mlp(3, 128, "relu"), {}, ALL),
    "relu-kaiming-50": (lambda: mlp(50, 128, "relu", "kaiming", "zeros"), {}, ALL),
    "leaky-kaiming-40": (lambda: mlp(40, 128, "leaky_relu", "kaiming", "zeros", negative_slope=0.01), {}, ALL),
    "selu-lecun-30": (lambda: mlp(30, 128, "selu", "lecun", "zeros"), {}, ALL),
    "tanh-xavier53-20": (lambda: mlp(20, 128, "tanh", "tanh", "zeros"), {}, ALL),
    "tanh-xavier53-50-chaotic": (lambda: mlp(50, 128, "tanh", "tanh", "zeros"), {}, ("MC201",)),
    "sigmoid-xavier-20": (lambda: mlp(20, 128, "sigmoid", "xavier"), {}, ("MC201",)),
    "linear-lecun-30": (lambda: mlp(30, 128, None, "lecun", "zeros"), {}, ALL),
    "bn-every-layer-30": (lambda: bn_mlp(30), {}, ALL),
    "deconv-kaiming-fan-in": (lambda: deconv(9, "kaiming"), {"MC201": W}, ()),
    "residual-kaiming": (lambda: residual(20), {}, ("MC201", "MC202", "MC204")),
    "parallel-5-bad": (lambda: parallel_bad(5), {"MC201": W}, ()),
    "small-head": (lambda: small_head(False), {}, ALL),
    "small-head-log-softmax": (lambda: small_head(True), {}, ALL),
    # MC202: zero / constant weights
    "fixup": (lambda: residual(20, last="zeros"), {}, ALL),
    "rezero": (lambda: residual(20, gate=0.0), {}, ALL),
    "zero-init-residual-bn": (lambda: residual(8, bn_gamma_zero=True), {}, ALL),
    "zero-head": (lambda: _zero_head(), {}, ALL),
    "zero-hidden-tanh": (lambda: two_layer("zeros"), {"MC202": W}, ("MC201",)),
    "constant-hidden-tanh": (lambda: two_layer(0.01), {"MC202": W}, ()),
    "zero-hidden-relu-zero-bias": (lambda: two_layer("zeros", "zeros", fn="relu"), {"MC202": E}, ()),
    "zero-hidden-relu-positive-bias": (lambda: two_layer("zeros", 0.1, fn="relu"), {"MC202": W}, ()),
    "two-zero-layers": (lambda: two_layer("zeros", w2="zeros"), {"MC202": E}, ()),
    "frozen-zero": (lambda: two_layer("zeros", frozen=True), {}, ("MC202",)),
    # MC203: tied embeddings
    "tied-normal": (lambda: lm(None, True), {"MC203": W}, ()),
    "tied-normal-matmul": (lambda: lm(None, True, matmul_head=True), {"MC203": W}, ()),
    "tied-gpt2": (lambda: lm(0.02, True), {}, ALL),
    "untied-normal": (lambda: lm(None, False), {}, ALL),
    # MC204: biases feeding ReLU
    "bias-minus-2": (lambda: bias_relu(-2.0), {"MC204": W}, ()),
    "bias-minus-4": (lambda: bias_relu(-4.0), {"MC204": E}, ()),
    "bias-default": (lambda: bias_relu("default"), {}, ALL),
    "bias-zero": (lambda: bias_relu("zeros"), {}, ALL),
    "bias-positive": (lambda: bias_relu(1.0), {}, ALL),
    "narrow-deep": (lambda: mlp(12, 8, "relu", "kaiming", "zeros", d_in=4, d_out=1), {"MC204": I}, ALL),
    "narrow-shallow": (lambda: mlp(6, 8, "relu", "kaiming", "zeros", d_in=4, d_out=1), {}, ("MC204",)),
}


def _zero_head() -> Graph:
    b = B()
    h = b.act(b.linear(b.input(32), 32, 64, "fc1", "kaiming", "zeros"), "relu")
    return b.graph(b.linear(h, 64, 10, "head", "zeros", "zeros"))


def lint(graph: Graph, *, signal: bool = True) -> dict[str, list[Violation]]:
    analyse(graph, signal=signal)
    return {code: violations(mod, graph) for code, mod in RULES.items()}


def worst(vs: list[Violation], default: Severity) -> Severity | None:
    sevs = [v.severity or default for v in vs]
    return max(sevs, key=lambda s: s.rank) if sevs else None


@pytest.mark.parametrize("case", sorted(CASES))
def test_init_rules_on_hand_built_graphs(case: str) -> None:
    build, expected, forbidden = CASES[case]
    found = lint(build())
    msgs = {c: [v.message for v in vs] for c, vs in found.items() if vs}
    for code, sev in expected.items():
        assert worst(found[code], RULES[code].RULE.severity) == sev, msgs
    for code in forbidden:
        if code in expected:
            continue
        got = worst(found[code], RULES[code].RULE.severity)
        assert got is None or got < W, msgs


def _measured_gain(depth: int, width: int) -> tuple[Graph, float]:
    """An nn.Sequential Xavier-ReLU MLP and the IR of the same weights, with its measured RMS gain."""
    torch.manual_seed(3)
    layers: list[nn.Module] = []
    for i in range(depth):
        lin = nn.Linear(width, width)
        nn.init.xavier_normal_(lin.weight)
        nn.init.zeros_(lin.bias)
        layers += [lin, nn.ReLU()] if i < depth - 1 else [lin]
    net = nn.Sequential(*layers)
    x = torch.randn(512, width)
    with torch.no_grad():
        gain = float(net(x).pow(2).mean().sqrt() / x.pow(2).mean().sqrt())
    b = B()
    h = b.input(width)
    for i, m in enumerate(net):
        h = b.linear(h, width, width, f"net.{i}", m.weight, m.bias) if isinstance(m, nn.Linear) else b.act(h, "relu")
    return b.graph(h), gain


def test_mc201_gain_matches_a_measurement() -> None:
    depth, width = 30, 256
    graph, measured = _measured_gain(depth, width)
    (v,) = lint(graph)["MC201"]
    # THEORY §3.4: finite width spreads log q_L with std √(5·Σ 1/n_l); allow 2.5 of those (in log10 rms)
    band = 2.5 * 0.5 * math.sqrt(5 * depth / width) / math.log(10)
    assert abs(math.log10(v.numbers["forward_gain"] / measured)) < band
    assert abs(math.log10(v.numbers["backward_gain"] / measured)) < band


def test_mc201_message_names_layers_stds_and_the_init_call() -> None:
    (v,) = lint(mlp(30, 128, "relu", "xavier", "zeros"))["MC201"]
    assert "net.0 … net.58" in v.message and "30 unnormalised layers" in v.message
    ideal = math.sqrt(2 / 128)
    assert f"{ideal:.3g}" in v.message  # the ideal std for ReLU at fan_in 128
    assert v.fix is not None and "kaiming_normal_(w, nonlinearity='relu')" in v.fix
    assert v.node is not None and v.node.label.startswith("net.")


@pytest.mark.parametrize("graph,words", [
    (lambda: mlp(50, 128, "tanh"), ("gain=5/3", "bias floor")),
    (lambda: _selu_small(), ("LeCun", "SELU")),
    (lambda: deconv(9, "kaiming"), ("mode='fan_out'",)),
    (lambda: mlp(20, 128, "relu", "normal", "zeros"), ("kaiming_normal_",)),
])
def test_mc201_advice_fits_the_nonlinearity(graph: Callable[[], Graph], words: tuple[str, ...]) -> None:
    vs = lint(graph())["MC201"]
    assert vs
    text = " ".join(v.message + " " + (v.fix or "") for v in vs)
    for w in words:
        assert w in text, text


def _selu_small() -> Graph:
    """SELU with std 0.3/√fan_in: ×0.3 per layer."""
    b = B()
    h = b.input(64)
    for i in range(8):
        w = torch.randn(64, 64) * 0.3 / 8
        h = b.act(b.linear(h, 64, 64, f"net.{i}", w, "zeros"), "selu")
    return b.graph(b.linear(h, 64, 10, "head"))


def test_mc201_caps_findings_per_model() -> None:
    vs = lint(parallel_bad(5))["MC201"]
    assert len(vs) == 3 and "2 more segments" in vs[-1].message


def test_mc201_summary_info_is_one_per_model() -> None:
    vs = lint(mlp(6, 128, "relu"))["MC201"]
    assert len(vs) == 1 and vs[0].severity is I and "×0.41" in vs[0].message


def test_mc201_without_signal_still_judges_homogeneous_nets() -> None:
    assert worst(lint(mlp(30, 128, "relu", "xavier", "zeros"), signal=False)["MC201"], W) is E
    assert lint(mlp(50, 128, "tanh"), signal=False)["MC201"] == []  # tanh gains need the predicted q


def test_mc202_error_names_every_layer_of_the_run() -> None:
    b = B()
    h = b.input(32)
    for i in range(3):
        h = b.act(b.linear(h, 32 if i == 0 else 64, 64, f"fc{i}", "zeros"), "tanh")
    (v,) = lint(b.graph(b.linear(h, 64, 10, "out")))["MC202"]
    assert v.severity is E and all(f"fc{i}" in v.message for i in range(3)) and v.numbers["consecutive"] == 3


def test_mc203_reports_the_logit_scale() -> None:
    (v,) = lint(lm(None, True))["MC203"]
    assert v.numbers["width"] == 256
    assert v.numbers["logit_std"] == pytest.approx(math.sqrt(256) * v.numbers["embedding_std"], rel=0.05)


def test_mc204_active_fraction_matches_a_measurement() -> None:
    graph = bias_relu(-2.0)
    (v,) = lint(graph)["MC204"]
    w, bias = graph.parameters["fc1.weight"].detach(), graph.parameters["fc1.bias"].detach()
    x = torch.randn(4096, 256)
    measured = float((x @ w.T + bias > 0).double().mean())
    assert v.numbers["active_fraction"] == pytest.approx(measured, abs=0.01)


def test_rules_read_tensors_when_init_stats_is_missing() -> None:
    graph = two_layer("zeros", w2="zeros")  # no pass has run: statistics come from the tensors
    (v,) = violations(mc202, graph)
    assert v.severity is E
