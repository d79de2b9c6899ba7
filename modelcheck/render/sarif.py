"""``--format sarif``: SARIF 2.1.0 as GitHub code scanning ingests it.

One run; ``tool.driver.rules`` holds every rule given (sorted by code) plus a minimal descriptor for any
code that only a finding knows (an internal-error diagnostic, a plugin not passed in); each result points
at its rule by ``ruleId`` and ``ruleIndex``. Paths are relative to ``root`` under ``%SRCROOT%``; a
finding without a line sits on line 1, and one in a file outside the repository moves to its model's
file (the original place is kept in the message). Models that could not be analysed and error-level
file messages become ``invocations[0].toolExecutionNotifications`` and ``executionSuccessful: false``.
``partialFingerprints`` hash rule, file, model and module (not the line or the numbers), so an alert
survives edits above it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import quote

import modelcheck
from modelcheck.diagnostics import Finding, ModelReport, RuleMeta, RunReport, Severity
from modelcheck.numbers import json_numbers
from modelcheck.render.locations import anchor, repo_relative
from modelcheck.render.ruledoc import full_description, rule_family, short_description

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/modelcheck/"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "modelcheck/v1"
LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def render_sarif(report: RunReport, rules: Mapping[str, RuleMeta], *, root: Path) -> str:
    """The run as a SARIF log (no trailing newline)."""
    return json.dumps(sarif_log(report, rules, root=root), indent=2, allow_nan=False)


def sarif_log(report: RunReport, rules: Mapping[str, RuleMeta], *, root: Path) -> dict[str, Any]:
    descriptors = [_descriptor(r) for r in sorted(rules.values(), key=lambda r: r.code)]
    index = {d["id"]: i for i, d in enumerate(descriptors)}
    for m in report.models:
        for f in m.findings:
            if f.rule not in index:  # a code no rule was given for: still needs a descriptor
                index[f.rule] = len(descriptors)
                descriptors.append(_bare_descriptor(f))
    seen: dict[str, int] = {}
    results = [_result(f, m, index[f.rule], root, seen) for m in report.models for f in m.findings]
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "modelcheck",
                        "version": modelcheck.__version__,
                        "semanticVersion": modelcheck.__version__,
                        "informationUri": INFORMATION_URI,
                        "rules": descriptors,
                    }
                },
                "invocations": [_invocation(report, root)],
                "originalUriBaseIds": {
                    SRCROOT: {"uri": root.absolute().as_uri().rstrip("/") + "/"}
                },
                "results": results,
            }
        ],
    }


def _descriptor(rule: RuleMeta) -> dict[str, Any]:
    doc = rule.doc.strip() or short_description(rule)
    tags = ["modelcheck"] + [t for t in (rule_family(rule),) if t]
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": short_description(rule)},
        "fullDescription": {"text": full_description(rule)},
        "help": {"text": doc, "markdown": doc},
        "defaultConfiguration": {"level": LEVEL[rule.severity]},
        "properties": {"tags": tags, "requires": list(rule.requires)},
    }


def _bare_descriptor(f: Finding) -> dict[str, Any]:
    return {
        "id": f.rule,
        "name": f.name,
        "shortDescription": {"text": f.name},
        "properties": {"tags": ["modelcheck"]},
    }


def _uri(rel: str) -> str:
    return quote(rel, safe="/")


def _artifact(file: str, root: Path) -> dict[str, str]:
    rel = repo_relative(file, root)
    if rel is not None:
        return {"uri": _uri(rel), "uriBaseId": SRCROOT}
    path = Path(file)
    return {"uri": (path if path.is_absolute() else Path.cwd() / path).as_uri()}


def subject(f: Finding, m: ModelReport) -> str:
    """``Model.module`` (or ``Model``): what a repository view cannot otherwise show."""
    return f"{m.model}.{f.module}" if f.module else m.model


def message_text(f: Finding, m: ModelReport, elsewhere: str | None = None) -> str:
    text = f"{subject(f, m)}: {f.message}"
    if elsewhere:
        text += f" (at {elsewhere})"
    if f.related:
        text += "\nSame cause: " + "; ".join(f"{r.rule} {r.name} at {r.module or m.model}" for r in f.related)
    if f.fix:
        text += f"\nFix: {f.fix}"
    return text


def _result(
    f: Finding, m: ModelReport, rule_index: int, root: Path, seen: dict[str, int]
) -> dict[str, Any]:
    where = anchor(f, m, root)
    artifact = (
        {"uri": _uri(where.uri), "uriBaseId": SRCROOT}
        if where.uri is not None
        else _artifact(f.file or m.file, root)
    )
    key = "\0".join((f.rule, artifact["uri"], m.model, f.module or ""))
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    seen[digest] = seen.get(digest, 0) + 1  # same rule twice on one module: keep both alerts
    logical = {
        "name": f.module or m.model,
        "fullyQualifiedName": subject(f, m),
        "kind": "member" if f.module else "type",
    }
    out = {
        "ruleId": f.rule,
        "ruleIndex": rule_index,
        "level": LEVEL[f.severity],
        "message": {"text": message_text(f, m, where.elsewhere)},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": artifact,
                    "region": {"startLine": where.line or 1},
                },
                "logicalLocations": [logical],
            }
        ],
        "partialFingerprints": {FINGERPRINT_KEY: f"{digest}:{seen[digest]}"},
        "properties": {
            "model": m.model,
            "module": f.module,
            "probe": f.probe.value if f.probe is not None else None,
            "numbers": json_numbers(f.numbers),
            "related": [r.rule for r in f.related],
        },
    }
    if f.related:
        out["relatedLocations"] = [_related(i, r, m, root) for i, r in enumerate(f.related, 1)]
    return out


def _related(i: int, r: Finding, m: ModelReport, root: Path) -> dict[str, Any]:
    """A related finding as SARIF's relatedLocations entry: where it points, and what it says."""
    where = anchor(r, m, root)
    artifact = (
        {"uri": _uri(where.uri), "uriBaseId": SRCROOT}
        if where.uri is not None
        else _artifact(r.file or m.file, root)
    )
    return {
        "id": i,
        "physicalLocation": {"artifactLocation": artifact, "region": {"startLine": where.line or 1}},
        "message": {"text": f"{r.rule} {r.name} ({r.severity.value}): {subject(r, m)}: {r.message}"},
    }


def _invocation(report: RunReport, root: Path) -> dict[str, Any]:
    notes: list[dict[str, Any]] = []
    for m in report.models:
        if m.status == "ok":
            continue
        code = m.error.code if m.error is not None else "internal"
        message = m.error.message if m.error is not None else "could not be analysed"
        notes.append(_notification("error", f"{m.model}: {message}", code, m.file, root))
    for msg in report.messages:
        notes.append(_notification(LEVEL[msg.severity], msg.message, "file", msg.file, root))
    return {"executionSuccessful": report.tool_errors == 0, "toolExecutionNotifications": notes}


def _notification(level: str, text: str, code: str, file: str, root: Path) -> dict[str, Any]:
    return {
        "level": level,
        "message": {"text": text},
        "descriptor": {"id": code},
        "locations": [{"physicalLocation": {"artifactLocation": _artifact(file, root)}}],
    }
