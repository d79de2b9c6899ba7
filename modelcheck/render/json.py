"""``--format json``: the machine-readable report of SPEC §3.

The SPEC keys are emitted exactly (and never renamed); this reporter adds, without raising
``schema_version``:

- per model: ``tracer``, ``num_parameters``, ``input_source``, ``notes``, ``profile`` (list of
  ``{label, activation_rms, gradient_rms, measured_activation_rms, measured_gradient_rms}``),
  ``suppressed`` (findings silenced by ``# noqa``), ``seconds``, and when known ``measured_metrics``
  (probe), ``lipschitz_reason`` (why ``lipschitz_upper_bound`` is null), ``lipschitz_modules``
  (``{module, bound, method, certified}`` per module, its own constant, largest first), ``probe_device`` and
  ``probe`` (the probe's own JSON-safe summary, passed through); with ``debug`` also
  ``internal_tracebacks`` (rules that crashed) and ``error.traceback``;
- per finding: ``file``, ``fix``, ``numbers``, and ``related`` (schema 2): the same root cause as
  other rules saw it, one finding per cause (``{rule, name, severity, message, module, file, line,
  numbers}`` each; see README "One finding per root cause");
- top level: ``messages`` (file-level lines; ``skip`` and ``skipped`` on the lines that say what was
  not linted), and ``summary.tool_errors`` / ``summary.suppressed`` / ``summary.analysed`` (models
  analysed) / ``summary.failed`` (models that could not be) / ``summary.skipped_files``.

Non-finite numbers (JSON has none): NaN is always ``null``. In ``metrics`` an infinite value is ``null``
too, as SPEC says (a number or null; null = unknown or unbounded); elsewhere (``numbers``, ``profile``)
+-inf becomes +-1.7976931348623157e+308, the largest double, so "exploded" stays distinguishable from
"unknown". The output is always strict JSON (``allow_nan=False``).
"""

from __future__ import annotations

import json
from typing import Any

import modelcheck
from modelcheck.diagnostics import (
    Finding,
    LayerStat,
    Metrics,
    ModelReport,
    RunReport,
    Severity,
)
from modelcheck.numbers import json_float, json_numbers, json_safe
from modelcheck.render.locations import probe_device

SCHEMA_VERSION = 2  # 2: findings carry ``related``


def render_json(report: RunReport, *, debug: bool = False) -> str:
    """The whole run as a JSON document (no trailing newline)."""
    return json.dumps(report_dict(report, debug=debug), indent=2, allow_nan=False)


def report_dict(report: RunReport, *, debug: bool = False) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "modelcheck_version": modelcheck.__version__,
        "models": [_model(m, debug=debug) for m in report.models],
        "messages": [
            {"file": m.file, "severity": m.severity.value, "message": m.message,
             **({"skip": True, "skipped": list(m.skipped)} if m.skip else {})}
            for m in report.messages
        ],
        "summary": summary_dict(report),
    }


def summary_dict(report: RunReport) -> dict[str, int]:
    return {
        "models": len(report.models),
        "errors": report.count(Severity.ERROR),
        "warnings": report.count(Severity.WARNING),
        "infos": report.count(Severity.INFO),
        "tool_errors": report.tool_errors,
        "analysed": report.analysed,
        "failed": report.failed,
        "skipped_files": report.skipped_files,
        "suppressed": sum(m.suppressed for m in report.models),
    }


def metrics_dict(metrics: Metrics) -> dict[str, float | None]:
    return {
        "forward_gain": json_float(metrics.forward_gain, inf=None),
        "backward_gain": json_float(metrics.backward_gain, inf=None),
        "lipschitz_upper_bound": json_float(metrics.lipschitz_upper_bound, inf=None),
    }


def _model(m: ModelReport, *, debug: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "file": m.file,
        "model": m.model,
        "status": m.status,
        "error": _error(m, debug=debug),
        "metrics": metrics_dict(m.metrics),
        "findings": [_finding(f) for f in m.findings],
        "tracer": m.tracer,
        "num_parameters": m.num_parameters,
        "input_source": m.input_source,
        "notes": list(m.notes),
        "profile": [_layer(s) for s in m.profile],
        "suppressed": m.suppressed,
        "seconds": json_float(m.seconds),
    }
    measured = m.measured
    if measured is not None:
        out["measured_metrics"] = metrics_dict(measured)
    reason = m.lipschitz_reason
    if reason is not None:
        out["lipschitz_reason"] = reason
    modules = m.module_bounds
    if modules:
        out["lipschitz_modules"] = [
            {"module": b.module, "bound": json_float(b.bound, inf=None), "method": b.method, "certified": b.certified}
            for b in modules
        ]
    device = probe_device(m)
    if device is not None:
        out["probe_device"] = device
    summary = m.probe_summary
    if summary is not None:
        out["probe"] = json_safe(summary)
    if debug and m.internal_tracebacks:
        out["internal_tracebacks"] = list(m.internal_tracebacks)
    return out


def _error(m: ModelReport, *, debug: bool) -> dict[str, str] | None:
    if m.error is None:
        return None
    out = {"code": m.error.code, "message": m.error.message}
    if debug and m.error.traceback:
        out["traceback"] = m.error.traceback
    return out


def _finding(f: Finding) -> dict[str, Any]:
    return {
        "rule": f.rule,
        "name": f.name,
        "severity": f.severity.value,
        "message": f.message,
        "module": f.module,
        "line": f.line,
        "probe": f.probe.value if f.probe is not None else None,
        "file": f.file,
        "fix": f.fix,
        "numbers": json_numbers(f.numbers),
        "related": [_related(r) for r in f.related],
    }


def _related(f: Finding) -> dict[str, Any]:
    """A related finding: the primary's keys, less its probe mark, fix and own related list."""
    return {k: v for k, v in _finding(f).items() if k not in ("probe", "fix", "related")}


def _layer(s: LayerStat) -> dict[str, Any]:
    return {
        "label": s.label,
        "activation_rms": json_float(s.activation_rms),
        "gradient_rms": json_float(s.gradient_rms),
        "measured_activation_rms": json_float(s.measured_activation_rms),
        "measured_gradient_rms": json_float(s.measured_gradient_rms),
    }
