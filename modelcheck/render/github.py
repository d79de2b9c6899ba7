"""``--format github``: GitHub Actions workflow commands, one line per finding.

    ::error file=models/deep.py,line=42,title=MC301 depth-gradient-vanishing::DeepMLP.layers.29: ...

Levels: error -> ``error``, warning -> ``warning``, info -> ``notice``. Escaping follows the runner
(``toolkit/packages/core/src/command.ts``): in the message ``%``, ``\\r``, ``\\n``; in property values
also ``:`` and ``,``. A model that could not be analysed is an ``::error file=F,title=...::`` line, as is
an error-level file message. Paths are relative to ``root`` (the repository), which the runner needs to
place an annotation on a file.
"""

from __future__ import annotations

from pathlib import Path

from modelcheck.diagnostics import Finding, ModelReport, RunReport, Severity
from modelcheck.render.locations import anchor, file_uri
from modelcheck.render.sarif import message_text

LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(level: str, message: str, **properties: str | int | None) -> str:
    """``::level k=v,k=v::message`` with ``None`` properties left out."""
    props = ",".join(
        f"{key}={escape_property(str(value))}"
        for key, value in properties.items()
        if value is not None
    )
    return (
        f"::{level} {props}::{escape_data(message)}"
        if props
        else f"::{level}::{escape_data(message)}"
    )


def render_github(report: RunReport, *, root: Path) -> str:
    """All annotations, one per line (no trailing newline; empty when there is nothing to say)."""
    lines: list[str] = []
    for m in report.models:
        if m.status != "ok":
            lines.append(_tool_error(m, root))
        lines.extend(_finding(f, m, root) for f in m.findings)
    for msg in report.messages:
        if msg.skip:  # what was not linted is the summary's to say, not an annotation on the file
            continue
        title = "modelcheck" if msg.severity is not Severity.ERROR else "modelcheck error"
        lines.append(
            command(LEVEL[msg.severity], msg.message, file=file_uri(msg.file, root), title=title)
        )
    return "\n".join(lines)


def _finding(f: Finding, m: ModelReport, root: Path) -> str:
    where = anchor(f, m, root)
    return command(
        LEVEL[f.severity],
        message_text(f, m, where.elsewhere),
        file=where.uri or file_uri(f.file or m.file, root),
        line=where.line,
        title=f"{f.rule} {f.name}",
    )


def _tool_error(m: ModelReport, root: Path) -> str:
    code = m.error.code if m.error is not None else "internal"
    message = m.error.message if m.error is not None else "could not be analysed"
    return command(
        "error",
        f"{m.model}: {message}",
        file=file_uri(m.file, root),
        title=f"modelcheck error ({code})",
    )
