"""Exit codes (SPEC §4), as pytest spells them: an ``IntEnum`` the command line returns."""

from __future__ import annotations

import enum

from modelcheck.diagnostics import ProbeVerdict, RunReport, Severity


class ExitCode(enum.IntEnum):
    OK = 0  # nothing at or above the failing severity
    FINDINGS = 1  # findings at or above it
    TOOL_ERROR = 2  # usage, configuration, or a file/model that could not be analysed
    NO_MODELS_ANALYSED = 5  # model classes were found but none was analysed (pytest's "no tests collected")


def exit_code(report: RunReport, fail_on: Severity = Severity.ERROR, *, exit_zero: bool = False) -> ExitCode:
    """What a run ends with. ``exit_zero`` turns FINDINGS into OK but never hides a TOOL_ERROR."""
    if report.tool_errors:
        return ExitCode.TOOL_ERROR
    if report.none_analysed:
        return ExitCode.NO_MODELS_ANALYSED
    # A static finding the probe measured and did not confirm stays in the report (marked) but does
    # not fail the run: the measurement outranks the prediction.
    failing = any(
        f.severity >= fail_on and f.probe is not ProbeVerdict.NOT_CONFIRMED for m in report.models for f in m.findings
    )
    return ExitCode.FINDINGS if failing and not exit_zero else ExitCode.OK
