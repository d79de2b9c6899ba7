"""The findings of one model as a table: severity and code, then module · file:line [· probe verdict]
over the message, with the fix on a dim line below."""

from __future__ import annotations

from typing import Mapping, Sequence

from rich import box
from rich.table import Table
from rich.text import Text

from modelcheck.diagnostics import Finding, ModelReport, RuleMeta
from modelcheck.numbers import fmt_num
from modelcheck.render.ruledoc import short_description
from modelcheck.render.style import FIX_STYLE, PROBE_TEXT, severity_style

WHOLE_MODEL = "(model)"
SEP = "  "


def sorted_findings(m: ModelReport) -> list[Finding]:
    """Most severe first, then by place, so the table reads top-down like a compiler's output."""
    return sorted(
        m.findings,
        key=lambda f: (-f.severity.rank, f.file or m.file, f.line or 0, f.rule, f.module or ""),
    )


def location(f: Finding, m: ModelReport) -> str:
    file = f.file or m.file
    return f"{file}:{f.line}" if f.line is not None else file


def findings_table(m: ModelReport, *, verbose: bool = False) -> Table:
    """Three columns so the message gets the width: ``severity | code | where, message, fix``."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("severity", no_wrap=True)
    table.add_column("code", no_wrap=True)
    table.add_column("where / message", overflow="fold", ratio=1)
    for f in sorted_findings(m):
        table.add_row(
            Text(f.severity.value, severity_style(f.severity)),
            Text(f.rule, "bold"),
            _cell(f, m, verbose=verbose),
        )
    return table


def _cell(f: Finding, m: ModelReport, *, verbose: bool) -> Text:
    text = Text.assemble((f.module or WHOLE_MODEL, "bold"), SEP, location(f, m))
    if f.probe is not None:
        word, style = PROBE_TEXT[f.probe]
        text.append(SEP + "probe: ")
        text.append(word, style)
    text.append("\n" + f.message)
    for r in f.related:  # the same root cause, as other rules saw it
        text.append("\nrelated: ", "bold")
        text.append(f"{r.rule} {r.name}" + (f" at {r.module}" if r.module else ""))
        if r.numbers:
            text.append(" (" + ", ".join(f"{k} {_num(v)}" for k, v in r.numbers.items()) + ")")
        if verbose:
            text.append(": " + r.message)
    if f.fix:
        text.append("\nfix: " + f.fix, FIX_STYLE)
    if verbose and f.numbers:
        numbers = ", ".join(f"{k}={_num(v)}" for k, v in f.numbers.items())
        text.append("\nnumbers: " + numbers, FIX_STYLE)
    return text


def _num(value: object) -> str:
    return (
        fmt_num(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool)
        else str(value)
    )


def legend(findings: Sequence[Finding], rules: Mapping[str, RuleMeta] | None) -> list[Text]:
    """One line per distinct code: ``MC301 depth-gradient-vanishing: <summary>``."""
    seen: dict[str, Finding] = {}
    for f in findings:
        seen.setdefault(f.rule, f)
    lines = []
    for code in sorted(seen):
        rule = rules.get(code) if rules else None
        summary = short_description(rule) if rule is not None else seen[code].name
        summary = f": {summary}" if summary != seen[code].name else ""
        lines.append(Text.assemble((code, "bold"), f" {seen[code].name}{summary}"))
    return lines
