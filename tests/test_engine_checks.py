"""Running passes and rules over one graph: locations, severities, crashes, skipped analyses."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from modelcheck.diagnostics import Severity
from modelcheck.engine.checks import Place, display_path, run_checks
from modelcheck.ir import Graph, ModuleInfo, Node, Op, SourceLoc
from modelcheck.passes import PASSES, Pass, PassContext
from modelcheck.rule import RuleContext, Violation, rule


def _graph(tmp_path: Path) -> Graph:
    lib = str(tmp_path / "blocks.py")
    x = Node("x", Op.INPUT, "input")
    fc = Node("fc", Op.LINEAR, "Linear", (x,), module_path="body.fc", module_type="Linear", params={"weight": "body.fc.weight"})
    act = Node("act", Op.ACTIVATION, "relu", (fc,), source=SourceLoc(lib, 7))
    out = Node("out", Op.OUTPUT, "output", (act,))
    modules = {
        "": ModuleInfo("", "Net", None, 0),
        "body": ModuleInfo("body", "Block", SourceLoc(str(tmp_path / "model.py"), 12), 0),
        "body.fc": ModuleInfo("body.fc", "Linear", None, 20),
    }
    return Graph([x, fc, act, out], tracer="fx", parameters={"body.fc.weight": torch.zeros(4, 4)}, modules=modules)


def _place(tmp_path: Path) -> Place:
    return Place((tmp_path / "model.py").resolve(), "model.py", 3)


def _by_node(graph):
    for node in graph.of(Op.LINEAR, Op.ACTIVATION):
        yield Violation(f"at {node.name}", node=node, fix="do less", numbers={"gain": 2.0})
    yield Violation("whole model", severity=Severity.INFO)
    yield Violation("by module", module="body")


LOCATE = rule(code="MC821", name="locate-things", severity="warning")(_by_node)


def _run(tmp_path: Path, rules, ctx: PassContext | None = None, severities=None):
    return run_checks(
        _graph(tmp_path),
        rules,
        ctx or PassContext(),
        RuleContext(model="Net", file="model.py"),
        severities=severities or {},
        options={},
        place=_place(tmp_path),
    )


def test_findings_point_at_the_node_its_module_a_parent_or_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = _run(tmp_path, [LOCATE])
    rows = [(f.message, f.module, f.file, f.line, f.severity) for f in out.findings]
    assert rows == [
        ("at fc", "body.fc", "model.py", 12, Severity.WARNING),  # no own line: the parent module's
        ("at act", "act", "blocks.py", 7, Severity.WARNING),  # its own line, in another file
        ("whole model", None, "model.py", 3, Severity.INFO),  # the model's definition line
        ("by module", "body", "model.py", 12, Severity.WARNING),
    ]
    assert out.findings[0].fix == "do less" and out.findings[0].numbers == {"gain": 2.0}


def test_severity_overrides_replace_the_rules_and_the_violations(tmp_path: Path) -> None:
    out = _run(tmp_path, [LOCATE], severities={"MC821": Severity.ERROR})
    assert {f.severity for f in out.findings} == {Severity.ERROR}


def test_a_crashing_pass_is_an_internal_error_and_skips_what_needs_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(graph, ctx):
        raise KeyError("missing fact")

    monkeypatch.setitem(PASSES, "boom_test", Pass("boom_test", boom))
    monkeypatch.setitem(PASSES, "after_boom_test", Pass("after_boom_test", lambda g, c: None, ("boom_test",)))
    needs = rule(code="MC822", name="needs-boom", severity="error", requires=("after_boom_test",))(_by_node)
    out = _run(tmp_path, [needs, LOCATE])
    internal = [f for f in out.findings if f.rule == "MC000"]
    assert len(internal) == 1 and "internal error in analysis pass 'boom_test': KeyError" in internal[0].message
    assert not any(f.rule == "MC822" for f in out.findings)
    assert any(f.rule == "MC821" for f in out.findings)  # the other rule still ran
    assert any("boom_test: crashed (KeyError)" in n for n in out.notes)
    assert any(n == "rules not run: MC822 (need after_boom_test)" for n in out.notes)
    assert out.tracebacks and "KeyError" in out.tracebacks[0]


def test_a_pass_that_skips_itself_keeps_its_rules_from_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def shy(graph, ctx):
        ctx.skipped["shy_test"] = "needs example inputs"

    monkeypatch.setitem(PASSES, "shy_test", Pass("shy_test", shy))
    needs = rule(code="MC823", name="needs-shy", severity="error", requires=("shy_test",))(_by_node)
    out = _run(tmp_path, [needs])
    assert not any(f.rule == "MC823" for f in out.findings)
    assert any("shy_test: needs example inputs" in n for n in out.notes)


def test_display_path_keeps_the_linted_file_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    place = Place((tmp_path / "model.py").resolve(), "./model.py", 1)
    assert display_path(str(tmp_path / "model.py"), place) == "./model.py"
    assert display_path(str(tmp_path / "sub" / "x.py"), place) == "sub/x.py"
    assert display_path("/elsewhere/lib.py", place) == "/elsewhere/lib.py"
