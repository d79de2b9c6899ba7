"""MC101-MC105 on hand-built graphs, through the same passes-then-rules path the linter takes.

Each case names the codes it must raise (with their severity) and the codes it must not raise at
warning or above.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from structure_ir import IR, STRUCTURE_CODES, lint, plain_mlp, residual_mlp, transformer

from modelcheck.diagnostics import Severity
from modelcheck.ir import Graph, Op
from modelcheck.passes import PassContext, run_passes
from modelcheck.passes.facts import SIGNAL
from modelcheck.registry import load_rules
from modelcheck.rule import RuleContext

W, E, I = Severity.WARNING, Severity.ERROR, Severity.INFO


def sigmoid_mlp(depth: int, gated: bool = False) -> Graph:
    b = IR()
    h = b.input(32)
    for i in range(depth):
        z = b.linear(h, 32, 32, f"net.{i}")
        if gated:  # GLU-style: sigmoid(W x) * (V x)
            h = b.mul(b.act(z, "sigmoid", path=f"act.{i}"), other=b.linear(h, 32, 32, f"val.{i}"))
        else:
            h = b.act(z, "sigmoid", path=f"act.{i}")
    return b.graph(b.linear(h, 32, 4, "head"))


CASES: dict[str, tuple[Callable[[], Graph], dict[str, Severity], tuple[str, ...]]] = {
    "plain-40": (lambda: plain_mlp(40), {"MC101": W}, ("MC102", "MC104", "MC105")),
    "plain-60": (lambda: plain_mlp(60), {"MC101": E}, ()),
    "plain-20": (lambda: plain_mlp(20), {}, ("MC101",)),
    "isometric-tanh-60": (lambda: plain_mlp(60, "tanh", width=48, orthogonal=True), {"MC101": I}, ("MC101",)),
    "residual-default-100": (lambda: residual_mlp(100), {"MC102": W}, ("MC101",)),
    "residual-kaiming-30": (lambda: residual_mlp(30, kaiming=True), {"MC102": E}, ("MC101",)),
    "residual-kaiming-9": (lambda: residual_mlp(9, kaiming=True), {}, ("MC102",)),
    "rezero-100": (lambda: residual_mlp(100, kaiming=True, gate=0.0), {}, ("MC102",)),
    "layerscale-100": (lambda: residual_mlp(100, kaiming=True, gate=1e-6), {}, ("MC102",)),
    "fixup-100": (lambda: residual_mlp(100, kaiming=True, zero_last=True), {}, ("MC102",)),
    "nf-alpha-100": (lambda: residual_mlp(100, kaiming=True, branch_scale=0.2), {}, ("MC102",)),
    "bn-branch-100": (lambda: residual_mlp(100, kaiming=True, norm="batch"), {}, ("MC102",)),
    "post-ln-residual-100": (lambda: residual_mlp(100, kaiming=True, norm="layer", post_norm=True), {}, ("MC102",)),
    "sigmoid-10": (lambda: sigmoid_mlp(10), {"MC103": E}, ()),
    "sigmoid-2": (lambda: sigmoid_mlp(2), {}, ("MC103",)),
    "glu-sigmoid-10": (lambda: sigmoid_mlp(10, gated=True), {}, ("MC103",)),
    "post-ln-12": (lambda: transformer(12), {}, ("MC104",)),
    "post-ln-16": (lambda: transformer(16), {"MC104": I}, ("MC104",)),
    "post-ln-30": (lambda: transformer(30), {"MC104": W}, ()),
    "pre-ln-30": (lambda: transformer(30, post=False), {}, ("MC104",)),
    "deepnorm-30": (lambda: transformer(30, alpha=(2 * 30) ** 0.25), {}, ("MC104",)),
    "sdpa-default": (lambda: transformer(2, post=False, qk_std=0.3), {}, ("MC105",)),
    "sdpa-scale-1-large": (lambda: transformer(2, post=False, scale=1.0, qk_std=0.3), {"MC105": W}, ()),
    "sdpa-scale-1-small": (lambda: transformer(2, post=False, scale=1.0, qk_std=0.05), {"MC105": I}, ("MC105",)),
}


def _by_code(findings) -> dict[str, Severity]:
    worst: dict[str, Severity] = {}
    for f in findings:
        if f.rule not in worst or f.severity > worst[f.rule]:
            worst[f.rule] = f.severity
    return worst


@pytest.mark.parametrize("case", sorted(CASES))
def test_structural_rules_on_hand_built_graphs(case: str) -> None:
    build, expected, forbidden = CASES[case]
    findings = lint(build())
    got = _by_code(findings)
    for code, severity in expected.items():
        assert got.get(code) == severity, (code, [f.message for f in findings])
    for code in forbidden:
        if code not in expected:
            assert got.get(code, I) < W, (code, [f.message for f in findings])
    for f in findings:  # every finding names where and says what to do
        assert f.module and f.fix and f.numbers


def test_mc101_counts_and_points_at_the_last_layer() -> None:
    (f,) = [f for f in lint(plain_mlp(33)) if f.rule == "MC101"]
    assert f.numbers["depth"] == 33 and f.module == "net.64"
    assert "33 weight ops" in f.message and "residual" in f.fix


def test_mc102_growth_numbers_follow_the_prediction() -> None:
    """Default init: q grows by about (1 + 1/18) per block (THEORY §3.3: x15 over 100 blocks)."""
    (f,) = [f for f in lint(residual_mlp(100, width=64)) if f.rule == "MC102"]
    assert 5 < f.numbers["growth"] < 50 and f.numbers["blocks"] == 100
    assert f.module == "blocks.0"
    (g,) = [f for f in lint(residual_mlp(30, kaiming=True)) if f.rule == "MC102"]
    assert g.numbers["growth"] > 1e6  # Kaiming on both layers: RMS x sqrt(3) per block


def test_mc103_splits_init_and_saturation() -> None:
    (f,) = [f for f in lint(sigmoid_mlp(10)) if f.rule == "MC103"]
    chi, init, act = f.numbers["chi_product"], f.numbers["init_product"], f.numbers["activation_product"]
    assert chi == pytest.approx(init * act, rel=1e-6)
    assert act < 1e-4 and chi < 1e-4  # E[σ′²] < 1/16 per sigmoid
    assert f.module == "act.0"


def _structure_only(graph: Graph) -> list:
    """Rules run with structure facts but no signal facts (a pass that left nodes unset)."""
    ctx = PassContext()
    run_passes(graph, ["structure"], ctx)
    for n in graph:
        n.facts.pop(SIGNAL, None)
    rules = {r.code: r for r in load_rules().rules if r.code in STRUCTURE_CODES}
    out = []
    for code, r in rules.items():
        out += [(code, v.severity or r.severity, v) for v in r.run(graph, RuleContext("m", "m.py"), {})]
    return out


@pytest.mark.parametrize(("build", "code", "severity"), [
    (lambda: residual_mlp(30, kaiming=True), "MC102", W),
    (lambda: sigmoid_mlp(10), "MC103", W),
    (lambda: transformer(2, post=False, scale=1.0, qk_std=0.3), "MC105", I),
    (lambda: transformer(30), "MC104", W),  # the layer count alone decides
])
def test_without_signal_facts_the_verdict_is_structural_and_lower(build, code, severity) -> None:
    got = [(sev, v) for c, sev, v in _structure_only(build()) if c == code]
    assert len(got) == 1
    sev, v = got[0]
    assert sev is severity
    if code != "MC104":
        assert "unavailable" in v.message


def test_no_structure_facts_means_no_findings() -> None:
    g = plain_mlp(40)
    rules = [r for r in load_rules().rules if r.code in STRUCTURE_CODES]
    assert all(list(r.run(g, RuleContext("m", "m.py"), {})) == [] for r in rules)
    assert g.of(Op.LINEAR)
