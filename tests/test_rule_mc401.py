"""MC401 excessive-local-sensitivity: warns on κ(x) at the example input, never on AutoLip alone
(THEORY R6). Unit cases on hand-set facts, then the bad/good fixture models end to end."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from modelcheck.diagnostics import Severity
from modelcheck.ir import Graph, ModuleInfo, Node, Op, TensorMeta
from modelcheck.passes import JacobianOptions, PassContext, run_passes
from modelcheck.passes.facts import JacobianFact, JacobianSummary, LipschitzSummary
from modelcheck.rule import DOC_SECTIONS, RuleContext, Violation
from modelcheck_rules.sensitivity.local_sensitivity import RULE


@pytest.fixture(autouse=True)
def _one_thread():  # type: ignore[no-untyped-def]
    """Tiny tensors: OpenMP spin-waits on shared CI cores only slow them down."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


MODELS = Path(__file__).parent / "models"


def _facts(norm: float, rms_in: float, rms_out: float, autolip: float | None, modules: dict[str, float]) -> Graph:
    x = Node("x", Op.INPUT, "x", meta=TensorMeta((2, 4), "float32"))
    nodes = [x]
    for path in modules:
        nodes.append(Node(f"n{len(nodes)}", Op.LINEAR, "Linear", (nodes[-1],), module_path=path, module_type="Linear"))
    nodes.append(Node("out", Op.OUTPUT, "output", (nodes[-1],)))
    g = Graph(nodes, tracer="test", parameters={}, modules={p: ModuleInfo(p, "Linear", None, 0) for p in modules})
    fact = lambda v: JacobianFact(v, 10, True, "jvp/vjp", 1.0, 1.0)  # noqa: E731
    g.facts["jacobian"] = JacobianSummary(
        JacobianFact(norm, 20, True, "jvp/vjp", rms_in, rms_out),
        "input 'x'",
        {p: fact(v) for p, v in modules.items()},
        "eval",
    )
    g.facts["lipschitz"] = LipschitzSummary(autolip, None if autolip is not None else "unbounded", {}, True, False)
    return g


def run(graph: Graph, **options: Any) -> list[Violation]:
    return RULE.run(graph, RuleContext(model="M", file="m.py"), options)


CASES = [
    # (‖J‖, rms(x), rms(f(x)), AutoLip, warn, info)
    (2.0, 1.0, 1.0, 10.0, False, False),  # healthy
    (2.0, 1.0, 1.0, 1e9, False, True),  # huge AutoLip alone: info only
    (300.0, 1.0, 0.1, 1e4, True, False),  # κ = 3000, module b (‖J‖ 40) explains a good share
    (1e2, 1.0, 1e-2, None, True, False),  # κ = 1e4, no global bound (attention)
    (5e3, 1.0, 2.0, 1e4, True, False),  # κ = 2500 but no module near ‖J‖: the model is blamed
    (900.0, 1.0, 1.0, 1e7, False, True),  # κ just below 1e3
    (math.inf, 1.0, 1.0, None, True, False),  # NaN/inf Jacobian
]


@pytest.mark.parametrize(("norm", "rin", "rout", "autolip", "warn", "info"), CASES)
def test_mc401_units(norm: float, rin: float, rout: float, autolip: float | None, warn: bool, info: bool) -> None:
    g = _facts(norm, rin, rout, autolip, {"a": 1.0, "b": 40.0, "c": 3.0})
    found = run(g)
    warnings = [v for v in found if v.severity is None]
    infos = [v for v in found if v.severity is Severity.INFO]
    assert bool(warnings) is warn and bool(infos) is info, [v.message for v in found]
    for v in warnings:
        if norm <= 400:  # a module within 10x of ‖J‖: the one with the largest local norm is named
            assert v.node is g.nodes[2] and "at b" in v.message
        else:
            assert v.node is None and "no weight module accounts for it" in v.message
        if math.isfinite(norm):
            assert v.numbers["kappa"] == pytest.approx(norm * rin / rout)
    for v in infos:
        assert v.numbers["log10_autolip"] == pytest.approx(math.log10(autolip))  # type: ignore[arg-type]


def test_mc401_options_move_the_thresholds() -> None:
    g = _facts(50.0, 1.0, 1.0, 1e3, {"a": 1.0})
    assert run(g) == []
    found = run(g, **{"max-kappa": 10, "autolip-info-log10": 2})
    assert [v.severity for v in found] == [None, Severity.INFO]


def test_mc401_silent_without_facts() -> None:  # jacobian skipped (meta / no inputs): nothing to judge
    g = _facts(1.0, 1.0, 1.0, None, {})
    del g.facts["jacobian"], g.facts["lipschitz"]
    assert run(g) == []


def test_mc401_metadata_and_docs() -> None:
    assert (RULE.code, RULE.name, RULE.severity) == ("MC401", "excessive-local-sensitivity", Severity.WARNING)
    assert set(RULE.requires) == {"lipschitz", "jacobian"}
    for section in DOC_SECTIONS:
        assert f"## {section}" in RULE.doc


def load(name: str) -> tuple[nn.Module, tuple[Any, ...]]:
    path = MODELS / name
    spec = importlib.util.spec_from_file_location(f"_mc401_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    classes = [
        c
        for c in vars(mod).values()  # definition order
        if isinstance(c, type) and issubclass(c, nn.Module) and c.__module__ == mod.__name__
    ]
    torch.manual_seed(0)
    return classes[-1](), tuple(mod.example_inputs())


def graph_of(model: nn.Module, inputs: tuple[Any, ...]) -> Graph:
    """The real tracer when it exists; else the leaf modules as a chain (enough for these passes)."""
    try:
        from modelcheck.trace.tracers import trace_model  # type: ignore[attr-defined]
    except ImportError:
        trace_model = None
    if trace_model is not None:
        return trace_model(model, inputs)
    x = inputs[0]
    nodes = [Node("x", Op.INPUT, "x", meta=TensorMeta(tuple(x.shape), "float32"))]
    for path, m in model.named_modules():
        if isinstance(m, nn.Linear):
            nodes.append(
                Node(
                    f"n{len(nodes)}",
                    Op.LINEAR,
                    "Linear",
                    (nodes[-1],),
                    module_path=path,
                    module_type="Linear",
                    params={"weight": f"{path}.weight", "bias": f"{path}.bias"},
                )
            )
    nodes.append(Node("out", Op.OUTPUT, "output", (nodes[-1],)))
    return Graph(
        nodes,
        tracer="test",
        parameters=dict(model.named_parameters()),
        modules={p: ModuleInfo(p, type(m).__name__, None, 0) for p, m in model.named_modules()},
    )


FIXTURES = {
    "mc401_bad_padded_l2norm.py": (True, False),
    "mc401_good_masked_l2norm.py": (False, False),
    "mc401_good_deep_relu.py": (False, True),
}


def test_every_fixture_is_listed() -> None:
    assert {p.name for p in MODELS.glob("mc401*.py")} == set(FIXTURES)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_mc401_fixture_models(name: str) -> None:
    warn, info = FIXTURES[name]
    model, inputs = load(name)
    model.train()
    g = graph_of(model, inputs)
    # a generous budget: the verdict is under test, not the speed (a loaded CI runner must not cut it short)
    ctx = PassContext(inputs=inputs, model=model, jacobian=JacobianOptions(budget_s=60.0))
    run_passes(g, ["lipschitz", "jacobian"], ctx)
    found = run(g)
    assert any(v.severity is None for v in found) is warn, [v.message for v in found]
    assert any(v.severity is Severity.INFO for v in found) is info, [v.message for v in found]
    assert all(m.training for m in model.modules())  # the passes leave the model as they found it
    if warn:  # the culprit is a functional normalisation, not a weight module: the model is blamed
        assert found[0].numbers["kappa"] > 1e5
        assert found[0].node is None and "no weight module accounts for it" in found[0].message
