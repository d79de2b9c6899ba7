"""``--format sarif``: valid SARIF 2.1.0 with what GitHub code scanning reads."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import render_cases as rc

from modelcheck.diagnostics import RunReport
from modelcheck.render import render_sarif

SCHEMA = Path(__file__).parents[2] / "shared/schemas/sarif-schema-2.1.0.json"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository root that is also the working directory, so "examples/deep.py" lies inside it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def sarif(report: RunReport, root: Path) -> dict[str, Any]:
    text = render_sarif(report, rc.RULES, root=root)
    doc = json.loads(text)
    assert isinstance(doc, dict)
    return doc


def test_schema_valid(root: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    if not SCHEMA.is_file():
        pytest.skip(f"SARIF schema not found at {SCHEMA}")
    schema = json.loads(SCHEMA.read_text())
    for report in (rc.FULL, RunReport()):
        jsonschema.validate(sarif(report, root), schema)


def test_driver_rules_metadata(root: Path) -> None:
    run = sarif(rc.FULL, root)["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "modelcheck" and driver["version"] and driver["informationUri"]
    by_id = {r["id"]: r for r in driver["rules"]}
    mc301 = by_id["MC301"]
    assert mc301["name"] == "depth-gradient-vanishing"
    assert mc301["shortDescription"]["text"] == rc.RULES["MC301"].summary
    assert mc301["fullDescription"]["text"].startswith("Predicts the backward gain")
    assert "## Why is this bad?" in mc301["help"]["markdown"]
    assert mc301["help"]["text"]
    assert mc301["defaultConfiguration"]["level"] == "error"
    assert "signal" in mc301["properties"]["tags"]
    # a docstring that opens with a heading still gets a one-line summary
    assert by_id["MC102"]["shortDescription"]["text"] == "Finds post-norm residual blocks."
    assert by_id["MC201"]["defaultConfiguration"]["level"] == "note"
    # codes given rules first (sorted), then codes only findings know
    ids = [r["id"] for r in driver["rules"]]
    assert ids[: len(rc.RULES)] == sorted(rc.RULES) and {"MC202", "MC302"} <= set(ids)


def test_results_levels_and_rule_index(root: Path) -> None:
    run = sarif(rc.FULL, root)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    findings = [f for m in rc.FULL.models for f in m.findings]
    assert len(run["results"]) == len(findings)
    level = {"error": "error", "warning": "warning", "info": "note"}
    for result, f in zip(run["results"], findings, strict=True):
        assert result["ruleId"] == f.rule
        assert rules[result["ruleIndex"]]["id"] == f.rule
        assert result["level"] == level[f.severity.value]
        assert f.message in result["message"]["text"]


def _location(result: dict[str, Any]) -> dict[str, Any]:
    loc = result["locations"][0]
    assert isinstance(loc, dict)
    return loc


def test_relative_uris_and_lines(root: Path) -> None:
    results = sarif(rc.FULL, root)["runs"][0]["results"]
    deep = [r for r in results if r["properties"]["model"] == rc.MIXED.model]
    for result, f in zip(deep, rc.MIXED.findings, strict=True):
        phys = _location(result)["physicalLocation"]
        assert phys["artifactLocation"] == {"uri": rc.DEEP, "uriBaseId": "%SRCROOT%"}
        if f.file == rc.LIBRARY:  # outside the repository: anchored on the model file
            assert phys["region"]["startLine"] == 1
            assert f"{rc.LIBRARY}:{f.line}" in result["message"]["text"]
        else:
            assert phys["region"]["startLine"] == (f.line or 1)


def test_absolute_paths_inside_root_become_relative(root: Path) -> None:
    model = replace(
        rc.MIXED,
        file=str(root / "pkg" / "deep.py"),
        findings=tuple(f.with_(file=None) for f in rc.FINDINGS),
    )
    results = sarif(RunReport(models=(model,)), root)["runs"][0]["results"]
    uris = {_location(r)["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert uris == {"pkg/deep.py"}


def test_logical_locations(root: Path) -> None:
    results = sarif(RunReport(models=(rc.MIXED,)), root)["runs"][0]["results"]
    names = [_location(r)["logicalLocations"][0]["fullyQualifiedName"] for r in results]
    assert names == [
        f"{rc.MIXED.model}.{f.module}" if f.module else rc.MIXED.model for f in rc.MIXED.findings
    ]


def test_fingerprints_unique_and_stable_across_line_moves(root: Path) -> None:
    def prints(report: RunReport) -> list[str]:
        return [
            r["partialFingerprints"]["modelcheck/v1"]
            for r in sarif(report, root)["runs"][0]["results"]
        ]

    before = prints(rc.FULL)
    assert len(set(before)) == len(before)
    moved = RunReport(
        models=tuple(
            replace(
                m,
                findings=tuple(
                    f.with_(line=(f.line or 0) + 10, message=f.message + "!") for f in m.findings
                ),
            )
            for m in rc.FULL.models
        )
    )
    assert prints(moved) == before
    doubled = replace(rc.MIXED, findings=rc.FINDINGS[:1] * 2)
    twins = prints(RunReport(models=(doubled,)))
    assert len(set(twins)) == 2


def test_tool_errors_are_notifications(root: Path) -> None:
    invocation = sarif(rc.FULL, root)["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    notes = invocation["toolExecutionNotifications"]
    broken = [n for n in notes if n["level"] == "error"]
    assert rc.BROKEN.error is not None
    assert len(broken) == 1 and rc.BROKEN.error.message in broken[0]["message"]["text"]
    assert broken[0]["descriptor"]["id"] == rc.BROKEN.error.code
    assert any(n["level"] == "note" and n["message"]["text"] == rc.SKIPPED.message for n in notes)
    clean = sarif(RunReport(models=(rc.CLEAN,)), root)["runs"][0]["invocations"][0]
    assert clean["executionSuccessful"] is True and clean["toolExecutionNotifications"] == []
