"""Colours and markers of the terminal reporters. Colour only ever repeats what a word already says,
so a log without colour loses nothing."""

from __future__ import annotations

from modelcheck.diagnostics import ProbeVerdict, Severity

SEVERITY_STYLE = {
    Severity.ERROR: "bold red",
    Severity.WARNING: "yellow",
    Severity.INFO: "cyan",
}
PROBE_TEXT = {
    ProbeVerdict.CONFIRMED: ("confirmed", "bold red"),
    ProbeVerdict.NOT_CONFIRMED: ("not confirmed", "dim"),
}
TOOL_ERROR_STYLE = "bold red"
NOTE_STYLE = "dim"
FIX_STYLE = "dim"
OK_STYLE = "green"


def severity_style(severity: Severity) -> str:
    return SEVERITY_STYLE.get(severity, "")
