"""One finding per root cause (issue 11): grouping, promotion under --ignore/noqa, dedupe, and the
related findings in JSON, text and SARIF."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelcheck.diagnostics import Finding, Severity
from modelcheck.engine.related import group

ROOT = Path(__file__).resolve().parents[1]
BROKEN = ROOT / "examples" / "broken_mlp.py"
SCHEMA = Path("/work/shared/schemas/sarif-schema-2.1.0.json")


def _f(rule: str, sev: str = "error", span: tuple[int, int] | None = None, module: str | None = "m",
       message: str | None = None, **numbers: float) -> Finding:
    return Finding(rule=rule, name=rule.lower(), severity=Severity(sev), message=message or f"{rule} says",
                   module=module, span=span, numbers=numbers)


def test_vanishing_family_is_one_finding_most_specific_first() -> None:
    out = group([_f("MC303"), _f("MC101", "warning", (0, 40), gradient_ratio=1e-20),
                 _f("MC301", span=(0, 30)), _f("MC103", span=(2, 30))])
    assert [f.rule for f in out] == ["MC103"]
    assert [r.rule for r in out[0].related] == ["MC301", "MC303", "MC101"]


def test_next_rule_is_promoted_when_the_primary_is_absent() -> None:
    out = group([_f("MC303"), _f("MC101", "warning", (0, 40)), _f("MC301", span=(0, 30))])
    assert [f.rule for f in out] == ["MC301"]
    assert {r.rule for r in out[0].related} == {"MC303", "MC101"}


def test_disjoint_spans_are_separate_causes() -> None:
    out = group([_f("MC103", span=(0, 5)), _f("MC101", "warning", (10, 40))])
    assert sorted(f.rule for f in out) == ["MC101", "MC103"]
    assert all(not f.related for f in out)


def test_exploding_mc101_does_not_join_a_vanishing_group() -> None:
    out = group([_f("MC301", span=(0, 30)), _f("MC101", "warning", (0, 40), gradient_ratio=1e4)])
    assert sorted(f.rule for f in out) == ["MC101", "MC301"]


def test_identical_findings_once_and_one_per_rule_and_module() -> None:
    a = _f("MC101", "warning", module="blocks.3")
    b = _f("MC101", "warning", module="blocks.3", message="another chain")
    out = group([a, a, b, _f("MC105", "warning", module="attn")])
    assert [f.rule for f in out] == ["MC101", "MC105"]
    assert [r.message for r in out[0].related] == ["another chain"]


def test_other_rules_untouched() -> None:
    fs = [_f("MC105", "warning", module="a"), _f("MC205", "warning", module="b")]
    assert group(fs) == fs


# --- end to end on examples/broken_mlp.py ---------------------------------------------------------


def _lint(tmp_path: Path, *args: str, path: Path = BROKEN) -> dict:
    from tests.zoo import lint_cli

    _, report = lint_cli([path], *args, out=tmp_path / "r.json")
    return report


def test_broken_mlp_is_one_error_with_the_rest_related(tmp_path: Path) -> None:
    report = _lint(tmp_path)
    (m,) = report["models"]
    errors = [f for f in m["findings"] if f["severity"] == "error"]
    assert len(errors) == 1 and errors[0]["rule"] == "MC103"
    assert {r["rule"] for r in errors[0]["related"]} == {"MC301", "MC303", "MC101"}
    assert len(m["findings"]) == 1
    assert report["schema_version"] == 2


def test_ignoring_the_primary_promotes_the_next(tmp_path: Path) -> None:
    (m,) = _lint(tmp_path, "--ignore", "MC103")["models"]
    assert [f["rule"] for f in m["findings"]] == ["MC301"]
    assert {r["rule"] for r in m["findings"][0]["related"]} == {"MC303", "MC101"}


def test_ignoring_a_related_code_drops_it(tmp_path: Path) -> None:
    (m,) = _lint(tmp_path, "--ignore", "MC303")["models"]
    assert [f["rule"] for f in m["findings"]] == ["MC103"]
    assert {r["rule"] for r in m["findings"][0]["related"]} == {"MC301", "MC101"}


def test_noqa_on_the_primary_promotes_the_next(tmp_path: Path) -> None:
    src = BROKEN.read_text().replace("nn.Linear(width, 10))", "nn.Linear(width, 10))  # noqa: MC101")
    first = "layers: list[nn.Module] = [nn.Linear(32, width), nn.Sigmoid()]"  # MC103, MC301, MC303 point here
    assert first in src
    src = src.replace(first, first + "  # noqa: MC103")
    path = tmp_path / "broken_noqa.py"
    path.write_text(src)
    (m,) = _lint(tmp_path, path=path)["models"]
    codes = [f["rule"] for f in m["findings"]]
    related = {r["rule"] for f in m["findings"] for r in f["related"]}
    assert "MC103" not in codes and "MC103" not in related
    assert "MC101" not in codes and "MC101" not in related
    assert codes == ["MC301"] and related == {"MC303"}
    assert m["suppressed"] == 2


def test_sarif_related_locations_validate(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from typer.testing import CliRunner

    from modelcheck.cli import app

    out = tmp_path / "r.sarif"
    CliRunner().invoke(app, ["lint", str(BROKEN), "--format", "sarif", "-o", str(out)])
    log = json.loads(out.read_text())
    if SCHEMA.exists():
        jsonschema.validate(log, json.loads(SCHEMA.read_text()))
    (result,) = log["runs"][0]["results"]
    rel = result["relatedLocations"]
    assert {r["message"]["text"].split(" ")[0] for r in rel} == {"MC301", "MC303", "MC101"}
    assert all(r["physicalLocation"]["region"]["startLine"] >= 1 for r in rel)


def test_text_report_lists_related(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from modelcheck.cli import app

    result = CliRunner().invoke(app, ["lint", str(BROKEN)], env={"COLUMNS": "120"})
    assert "related:" in result.output
    assert "1 error" in result.output


def test_a_zero_layer_and_the_zero_gain_it_causes_are_one_finding() -> None:
    out = group([_f("MC303", span=(0, 20)), _f("MC202", span=(6, 6), module="net.6")])
    assert [(f.rule, [r.rule for r in f.related]) for f in out] == [("MC202", ["MC303"])]


def test_one_rule_on_several_modules_is_not_merged() -> None:
    fs = [_f("MC202", "warning", module=f"layers.{i}.norm") for i in range(3)]
    assert group(fs) == fs


def test_the_init_scale_of_a_segment_is_the_cause_of_the_gain_it_predicts() -> None:
    out = group([_f("MC303", span=(0, 30)), _f("MC201", span=(0, 28), forward_gain=3.8e-5, backward_gain=4e-5),
                 _f("MC304", span=(40, 50))])
    assert [(f.rule, [r.rule for r in f.related]) for f in out] == [("MC201", ["MC303"]), ("MC304", [])]
