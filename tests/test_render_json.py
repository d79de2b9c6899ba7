"""``--format json`` against SPEC §3: exact keys and types, strict JSON, computed summary."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import pytest
import render_cases as rc

import modelcheck
from modelcheck.diagnostics import Metrics, RunReport, Severity
from modelcheck.numbers import HUGE
from modelcheck.render import render_json

SPEC_MODEL_KEYS = {"file", "model", "status", "error", "metrics", "findings"}
SPEC_FINDING_KEYS = {"rule", "name", "severity", "message", "module", "line", "probe"}
SPEC_METRICS = {"forward_gain", "backward_gain", "lipschitz_upper_bound"}


def strict_loads(text: str) -> Any:
    def no_constants(name: str) -> None:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=no_constants)


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return strict_loads(render_json(rc.FULL))


def test_top_level(doc: dict[str, Any]) -> None:
    assert doc["schema_version"] == 2
    assert doc["modelcheck_version"] == modelcheck.__version__
    assert [m["model"] for m in doc["models"]] == [m.model for m in rc.FULL.models]


def test_summary_counts_computed(doc: dict[str, Any]) -> None:
    s = doc["summary"]
    assert {"models", "errors", "warnings", "infos"} <= set(s)
    assert s["models"] == len(rc.FULL.models)
    assert s["errors"] == sum(
        f.severity is Severity.ERROR for m in rc.FULL.models for f in m.findings
    )
    assert s["warnings"] == sum(
        f.severity is Severity.WARNING for m in rc.FULL.models for f in m.findings
    )
    assert s["infos"] == sum(
        f.severity is Severity.INFO for m in rc.FULL.models for f in m.findings
    )
    assert s["tool_errors"] == 1 and s["suppressed"] == 2
    assert all(type(v) is int for v in s.values())


def test_spec_keys_and_types(doc: dict[str, Any]) -> None:
    for m in doc["models"]:
        assert SPEC_MODEL_KEYS <= set(m)
        assert m["status"] in ("ok", "error")
        assert isinstance(m["file"], str) and isinstance(m["model"], str)
        assert set(m["metrics"]) >= SPEC_METRICS
        assert all(v is None or isinstance(v, (int, float)) for v in m["metrics"].values())
        if m["status"] == "ok":
            assert m["error"] is None
        else:
            assert set(m["error"]) == {"code", "message"}  # no traceback without debug
        for f in m["findings"]:
            assert SPEC_FINDING_KEYS <= set(f)
            assert f["severity"] in ("error", "warning", "info")
            assert f["probe"] in (None, "confirmed", "not-confirmed")
            assert f["module"] is None or isinstance(f["module"], str)
            assert f["line"] is None or type(f["line"]) is int


def test_finding_values_round_trip(doc: dict[str, Any]) -> None:
    mixed = next(m for m in doc["models"] if m["model"] == rc.MIXED.model)
    for out, f in zip(mixed["findings"], rc.MIXED.findings, strict=True):
        assert (out["rule"], out["name"], out["severity"]) == (f.rule, f.name, f.severity.value)
        assert (out["message"], out["module"], out["line"]) == (f.message, f.module, f.line)
        assert out["probe"] == (f.probe.value if f.probe else None)
        assert out["fix"] == f.fix and out["file"] == f.file


def test_non_finite_numbers(doc: dict[str, Any]) -> None:
    boom = next(m for m in doc["models"] if m["model"] == rc.NONFINITE.model)
    assert boom["metrics"] == {
        "forward_gain": None,
        "backward_gain": None,
        "lipschitz_upper_bound": None,
    }
    assert boom["lipschitz_reason"] == "softmax attention"
    numbers = boom["findings"][0]["numbers"]
    assert numbers == {"forward_gain": HUGE, "ratio": -HUGE, "odd": None}
    assert all(p["measured_activation_rms"] is not None for p in boom["profile"])


def test_metrics_values_preserved(doc: dict[str, Any]) -> None:
    clean = next(m for m in doc["models"] if m["model"] == rc.CLEAN.model)
    assert clean["metrics"]["forward_gain"] == rc.CLEAN.metrics.forward_gain
    assert clean["metrics"]["lipschitz_upper_bound"] == rc.CLEAN.metrics.lipschitz_upper_bound
    assert clean["num_parameters"] == rc.CLEAN.num_parameters and clean["tracer"] == "fx"


def test_traceback_only_with_debug() -> None:
    debug = strict_loads(render_json(rc.FULL, debug=True))
    broken = next(m for m in debug["models"] if m["status"] == "error")
    assert rc.BROKEN.error is not None
    assert broken["error"]["traceback"] == rc.BROKEN.error.traceback


def test_file_messages(doc: dict[str, Any]) -> None:
    assert doc["messages"] == [
        {"file": rc.SKIPPED.file, "severity": "info", "message": rc.SKIPPED.message}
    ]


def test_empty_run() -> None:
    doc = strict_loads(render_json(RunReport()))
    assert doc["models"] == [] and doc["summary"]["models"] == 0


def test_profile_serialised_in_order(doc: dict[str, Any]) -> None:
    mixed = next(m for m in doc["models"] if m["model"] == rc.MIXED.model)
    assert [p["label"] for p in mixed["profile"]] == [s.label for s in rc.MIXED.profile]
    assert all(math.isfinite(p["gradient_rms"]) for p in mixed["profile"])


def test_probe_extras_pass_through_json_safe() -> None:
    probed = replace(
        rc.CLEAN,
        probe_device="cuda:0",
        probe_summary={"losses": [1.0, math.nan, math.inf], "when": object(), "steps": (1, 2)},
        measured=Metrics(forward_gain=1.5, backward_gain=None),
        internal_tracebacks=("Traceback ... MC999",),
    )
    out = strict_loads(render_json(RunReport(models=(probed,))))["models"][0]
    assert out["probe_device"] == "cuda:0"
    assert out["probe"]["losses"] == [1.0, None, HUGE] and out["probe"]["steps"] == [1, 2]
    assert isinstance(out["probe"]["when"], str)
    assert out["measured_metrics"]["forward_gain"] == 1.5
    assert "internal_tracebacks" not in out
    debug = strict_loads(render_json(RunReport(models=(probed,)), debug=True))["models"][0]
    assert debug["internal_tracebacks"] == ["Traceback ... MC999"]


def test_module_bounds_are_passed_through_in_order() -> None:
    from dataclasses import replace

    from modelcheck.diagnostics import ModuleBound, RunReport

    rows = (ModuleBound("fc", 3.5, "gram", True), ModuleBound("emb", float("inf"), "norm-global", False))
    doc = json.loads(render_json(RunReport(models=(replace(rc.CLEAN, module_bounds=rows),))))
    got = doc["models"][0]["lipschitz_modules"]
    assert got == [
        {"module": "fc", "bound": 3.5, "method": "gram", "certified": True},
        {"module": "emb", "bound": None, "method": "norm-global", "certified": False},
    ]
    plain = json.loads(render_json(RunReport(models=(rc.CLEAN,))))
    assert "lipschitz_modules" not in plain["models"][0]
