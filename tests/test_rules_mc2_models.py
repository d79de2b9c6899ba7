"""MC201-MC204 on model files (SPEC §1: a zero-argument nn.Module class and ``example_inputs()``),
traced and analysed the way the linter does: our fixtures, the other families' good fixtures, and the
shared measured corpus when it is present."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from _mc2_ir import violations
from torch import nn

import modelcheck_rules.init.bad_init_scale as mc201
import modelcheck_rules.init.dead_relu as mc204
import modelcheck_rules.init.embedding_scale as mc203
import modelcheck_rules.init.zero_init as mc202
from modelcheck.diagnostics import Severity
from modelcheck.passes import PassContext, run_passes
from modelcheck.rule import Violation

trace = pytest.importorskip("modelcheck.trace.tracers")
if not hasattr(trace, "trace_model"):
    pytest.skip("the tracer is not installed", allow_module_level=True)

I, W, E = Severity.INFO, Severity.WARNING, Severity.ERROR
RULES = {"MC201": mc201, "MC202": mc202, "MC203": mc203, "MC204": mc204}
ALL = tuple(RULES)
READS = list(dict.fromkeys(p for m in RULES.values() for p in m.RULE.reads))  # what the engine runs
MODELS = Path(__file__).parent / "models"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"  # CI: ../shared beside the checkout

# file stem -> (codes that must fire with this worst severity, codes that must stay below warning)
FIXTURES: dict[str, tuple[dict[str, Severity], tuple[str, ...]]] = {
    "mc201_bad_xavier_relu": ({"MC201": E}, ("MC202", "MC203", "MC204")),
    "mc201_bad_normal_init": ({"MC201": E}, ("MC202", "MC203", "MC204")),
    "mc201_bad_tanh_default": ({"MC201": E}, ("MC202", "MC203", "MC204")),
    "mc201_bad_conv_transpose": ({"MC201": W}, ("MC202", "MC203", "MC204")),
    "mc201_good_kaiming_relu_deep": ({}, ALL),
    "mc201_good_default_shallow": ({}, ALL),
    "mc201_good_selu_lecun": ({}, ALL),
    "mc201_good_tanh_xavier": ({}, ALL),
    "mc201_good_bn_cnn": ({}, ALL),
    "mc202_bad_zero_hidden": ({"MC202": W}, ("MC201", "MC203", "MC204")),
    "mc202_bad_two_zero": ({"MC202": E}, ("MC203", "MC204")),
    "mc202_bad_zero_relu": ({"MC202": E}, ("MC203",)),
    "mc202_good_fixup": ({}, ALL),
    "mc202_good_rezero": ({}, ALL),
    "mc202_good_zero_head": ({}, ALL),
    "mc202_good_zero_init_residual": ({}, ALL),
    "mc202_good_adaln_zero": ({}, ALL),
    "mc202_good_offset_scale": ({}, ALL),
    "mc203_bad_tied_normal": ({"MC203": W}, ("MC201", "MC202", "MC204")),
    "mc203_good_tied_gpt2": ({}, ALL),
    "mc203_good_untied_normal": ({}, ALL),
    "mc204_bad_negative_bias": ({"MC204": E}, ("MC201", "MC202", "MC203")),
    "mc204_bad_shifted_bias": ({"MC204": W}, ("MC201", "MC202", "MC203")),
    "mc204_good_default_bias": ({}, ALL),
    "mc204_info_narrow_deep": ({"MC204": I}, ALL),
}
# Other families' fixtures of well-initialised models: the init rules must stay quiet on them.
OTHERS_GOOD = sorted(p.stem for p in MODELS.glob("mc*_good_*.py") if not p.stem.startswith("mc20") or
                     p.stem.startswith("mc205"))
CORPUS_CASES: dict[str, tuple[dict[str, Severity], tuple[str, ...]]] = {
    "relu_mlp_normal_init": ({"MC201": E}, ()),
    "relu_mlp_xavier_init": ({"MC201": E}, ()),
    "deep_tanh_mlp_default_init": ({"MC201": E}, ()),
    "deep_sigmoid_mlp": ({}, ("MC201",)),  # the activation's fault: the saturation/depth rules say so
    "relu_mlp_kaiming_init": ({}, ALL),
    "residual_mlp_fixup": ({}, ALL),
    "residual_mlp_rezero": ({}, ALL),
    "lstm_sequence_model": ({}, ALL),
    "preln_transformer_12": ({}, ALL),
    "vgg_style_bn_cnn": ({}, ALL),
}


def _module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"mc2_model_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _model_class(mod: ModuleType) -> type[nn.Module]:
    cls = [v for v in vars(mod).values() if inspect.isclass(v) and issubclass(v, nn.Module)
           and v.__module__ == mod.__name__ and _zero_arg(v)]
    assert len(cls) == 1, cls
    return cls[0]


def _load(path: Path) -> tuple[nn.Module, tuple[Any, ...]]:
    mod = _module(path)
    torch.manual_seed(0)
    return _model_class(mod)(), _inputs(mod)


def _zero_arg(cls: type) -> bool:
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return all(p.default is not inspect.Parameter.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in params)


def _inputs(mod: ModuleType) -> tuple[Any, ...]:
    torch.manual_seed(1)
    return tuple(mod.example_inputs())


def lint(path: Path) -> dict[str, list[Violation]]:
    model, inputs = _load(path)
    graph = trace.trace_model(model, inputs)
    ctx = PassContext(inputs=inputs, model=model)
    run_passes(graph, READS, ctx)
    assert not ctx.skipped, ctx.skipped
    return {code: violations(m, graph) for code, m in RULES.items()}


def worst(code: str, vs: list[Violation]) -> Severity | None:
    sevs = [v.severity or RULES[code].RULE.severity for v in vs]
    return max(sevs, key=lambda s: s.rank) if sevs else None


def _check(found: dict[str, list[Violation]], expected: dict[str, Severity], forbidden: tuple[str, ...]) -> None:
    msgs = {c: [f"{v.severity}: {v.message}" for v in vs] for c, vs in found.items() if vs}
    for code, sev in expected.items():
        assert worst(code, found[code]) == sev, msgs
    for code in forbidden:
        if code not in expected:
            got = worst(code, found[code])
            assert got is None or got < W, msgs


@pytest.mark.parametrize("stem", sorted(FIXTURES))
def test_init_rules_on_fixture_models(stem: str) -> None:
    expected, forbidden = FIXTURES[stem]
    _check(lint(MODELS / f"{stem}.py"), expected, forbidden)


def test_every_mc2_fixture_is_listed() -> None:
    mine = {p.stem for p in MODELS.glob("mc20[1-4]_*.py")}
    assert mine == set(FIXTURES)


def lint_meta(path: Path) -> dict[str, list[Violation]]:
    """The same on the meta device: statistics come from the init calls recorded while building."""
    from modelcheck.load.initrecord import InitRecorder

    mod = _module(path)
    inputs = _inputs(mod)
    rec = InitRecorder()
    with torch.device("meta"), rec.active():
        model = _model_class(mod)()
    meta_inputs = tuple(x.to("meta") for x in inputs)
    graph = trace.trace_model(model, meta_inputs)
    ctx = PassContext(inputs=None, meta=True, init_records=rec.resolve(model), model=model)
    run_passes(graph, READS, ctx)
    assert not ctx.skipped, ctx.skipped
    return {code: violations(m, graph) for code, m in RULES.items()}


META = ("mc201_bad_xavier_relu", "mc201_good_kaiming_relu_deep", "mc202_bad_two_zero", "mc202_good_fixup",
        "mc203_bad_tied_normal", "mc204_bad_negative_bias")


@pytest.mark.parametrize("stem", META)
def test_init_rules_on_meta_models(stem: str) -> None:
    expected, forbidden = FIXTURES[stem]
    _check(lint_meta(MODELS / f"{stem}.py"), expected, forbidden)


@pytest.mark.slow
@pytest.mark.parametrize("stem", OTHERS_GOOD)
def test_init_rules_quiet_on_other_good_fixtures(stem: str) -> None:
    _check(lint(MODELS / f"{stem}.py"), {}, ALL)


@pytest.mark.slow
@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")
@pytest.mark.parametrize("stem", sorted(CORPUS_CASES))
def test_init_rules_on_the_measured_corpus(stem: str) -> None:
    expected, forbidden = CORPUS_CASES[stem]
    _check(lint(CORPUS / f"{stem}.py"), expected, forbidden)
