"""The default human report: one block per model, file-level lines, and a closing summary.

Every piece of information is in the words; colour only repeats it, so a CI log without colour
reads the same. Output depends on the report and the console width only.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Mapping, Sequence

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.padding import Padding
from rich.text import Text

from modelcheck.diagnostics import (
    FileMessage,
    Metrics,
    ModelReport,
    ModuleBound,
    RuleMeta,
    RunReport,
    Severity,
)
from modelcheck.numbers import fmt_count, fmt_num
from modelcheck.render.findings import findings_table, legend
from modelcheck.render.locations import probe_device
from modelcheck.render.profile import ProfileView
from modelcheck.render.style import (
    NOTE_STYLE,
    OK_STYLE,
    TOOL_ERROR_STYLE,
    severity_style,
)

SEP = " \u00b7 "  # middle dot between header facts


def render_text(
    report: RunReport,
    console: Console,
    *,
    rules: Mapping[str, RuleMeta] | None = None,
    verbose: bool = False,
) -> None:
    """Print ``report`` to ``console``, grouped by file in the order files first appear."""
    models: dict[str, list[ModelReport]] = defaultdict(list)
    messages: dict[str, list[FileMessage]] = defaultdict(list)
    files: list[str] = []
    for m in report.models:
        models[m.file].append(m)
        files.append(m.file)
    for msg in report.messages:
        messages[msg.file].append(msg)
        files.append(msg.file)
    flat = not console.is_terminal  # a log or a pipe: error lines, notes and hints stay whole, copy-pasteable
    for file in dict.fromkeys(files):
        for m in models[file]:
            print_model(console, m, verbose=verbose, flat=flat)
            console.print()
        for msg in messages[file]:
            console.print(file_message_line(msg), soft_wrap=flat)
        if messages[file]:
            console.print()
    findings = [f for m in report.models for f in m.findings]
    if findings and verbose:
        for line in legend(findings, rules):
            console.print(line)
        console.print()
    console.print(summary_line(report), soft_wrap=flat)
    if findings and not verbose:
        console.print(Text("`modelcheck rule CODE` explains a rule", NOTE_STYLE))


def print_model(console: Console, m: ModelReport, *, verbose: bool, flat: bool) -> None:
    """One model's block. ``flat``: its error line and notes are printed unwrapped (a renderable's
    lines are wrapped or cropped to the width, so they are printed on their own)."""
    if flat and m.status != "ok":
        console.print(error_line(m), soft_wrap=True)
    console.print(ModelView(m, verbose=verbose, flat=flat))
    if flat and m.status == "ok":
        for note in m.notes:
            console.print(Text(f"  note: {note}", NOTE_STYLE), soft_wrap=True)


class ModelView:
    """One model: an error line, or header + metrics + findings + profile + notes (``flat``: without
    the error line and the notes, which :func:`print_model` prints unwrapped)."""

    def __init__(self, model: ModelReport, *, verbose: bool = False, flat: bool = False) -> None:
        self.model = model
        self.verbose = verbose
        self.flat = flat

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        m = self.model
        if m.status != "ok":
            if not self.flat:
                yield error_line(m)
            if self.verbose and m.error is not None and m.error.traceback:
                yield Text(m.error.traceback.rstrip(), NOTE_STYLE)
            if m.findings:  # what ran before the failure (structural rules) still counts
                yield _indent(findings_table(m, verbose=self.verbose))
            return
        yield Text.assemble((m.file, "bold"), ": ", (m.model, "bold"))
        facts = _facts(m, verbose=self.verbose)
        if facts:
            yield _indent(Text(SEP.join(facts), NOTE_STYLE))
        yield _indent(metrics_text(m.metrics, m.measured, m.lipschitz_reason))
        bounds = m.module_bounds
        if bounds:
            yield _indent(module_bounds_text(bounds, limit=None if self.verbose else 3))
        if m.findings:
            yield _indent(findings_table(m, verbose=self.verbose))
        else:
            yield _indent(Text("\u2713 no findings", OK_STYLE))
        if m.profile:
            yield _indent(ProfileView(m.profile, full=self.verbose))
        for note in () if self.flat else m.notes:
            yield _indent(Text(f"note: {note}", NOTE_STYLE))


def _facts(m: ModelReport, *, verbose: bool) -> list[str]:
    facts = []
    if m.num_parameters is not None:
        facts.append(f"{fmt_count(m.num_parameters)} parameters")
    if m.tracer:
        facts.append(f"traced with {m.tracer}")
    if m.input_source:
        facts.append(f"inputs: {m.input_source}")
    device = probe_device(m)
    if device:
        facts.append(f"probed on {device}")
    if verbose and m.seconds is not None:
        facts.append(f"{m.seconds:.2f}s")
    return facts


def module_bounds_text(bounds: Sequence[ModuleBound], *, limit: int | None) -> Text:
    """``largest module Lipschitz constants: fc 12.3 · layers.0.conv1 9.1 (+50 more, --verbose)``."""
    shown = bounds if limit is None else bounds[:limit]
    parts = [Text.assemble(b.module, " ", (fmt_num(b.bound), "bold"), "" if b.certified else " (est.)") for b in shown]
    out = Text.assemble(("largest module Lipschitz constants: ", NOTE_STYLE), Text(SEP).join(parts))
    if len(bounds) > len(shown):
        out.append(f" (+{len(bounds) - len(shown)} more, --verbose)", NOTE_STYLE)
    return out


def metrics_text(metrics: Metrics, measured: Metrics | None, reason: str | None) -> Text:
    """``forward gain 1.7 · backward gain 3.1e-09 · Lipschitz bound 310`` (+ measured values)."""

    def gain(label: str, predicted: float | None, seen: float | None) -> Text:
        out = Text.assemble(f"{label} ", (fmt_num(predicted), "bold"))
        if seen is not None:  # a gain that overflowed float32 is no number we measured
            out.append(f" (measured {fmt_num(seen)})" if math.isfinite(seen) else " (measured: overflows float32)")
        return out

    bound = metrics.lipschitz_upper_bound
    if bound is not None:
        lip = Text.assemble("Lipschitz bound ", (fmt_num(bound), "bold"))
    elif reason:
        lip = Text.assemble("Lipschitz bound ", ("unbounded", "bold"), f" ({reason})")
    else:
        lip = Text.assemble("Lipschitz bound ", ("unknown", "bold"))
    return Text(SEP).join(
        [
            gain("forward gain", metrics.forward_gain, measured.forward_gain if measured else None),
            gain(
                "backward gain", metrics.backward_gain, measured.backward_gain if measured else None
            ),
            lip,
        ]
    )


def error_line(m: ModelReport) -> Text:
    """``file: model: error [code]: message`` (the word "error" says it without the red)."""
    code = f" [{m.error.code}]" if m.error is not None else ""
    message = m.error.message if m.error is not None else "could not be analysed"
    return Text(f"{m.file}: {m.model}: error{code}: {message}", TOOL_ERROR_STYLE)


def file_message_line(msg: FileMessage) -> Text:
    return Text.assemble(
        f"{msg.file}: ", (msg.severity.value, severity_style(msg.severity)), f": {msg.message}"
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary_line(report: RunReport) -> Text:
    """``3 models, 1 error, 2 warnings, 0 infos in 2 files; 2 analysed, 1 failed, 0 files skipped;
    1 tool error; 4 suppressed``."""
    files = {m.file for m in report.models} | {msg.file for msg in report.messages}
    counts = [
        (_plural(report.count(Severity.ERROR), "error"), Severity.ERROR),
        (_plural(report.count(Severity.WARNING), "warning"), Severity.WARNING),
        (_plural(report.count(Severity.INFO), "info"), Severity.INFO),
    ]
    out = Text(_plural(len(report.models), "model") + ", ", "bold")
    for i, (word, severity) in enumerate(counts):
        n = report.count(severity)
        out.append(word, severity_style(severity) if n else "bold")
        out.append(", " if i < len(counts) - 1 else "", "bold")
    out.append(f" in {_plural(len(files), 'file')}", "bold")
    # always, so a CI log can be compared run to run: analysed, failed and skipped are counted apart
    out.append(f"; {report.analysed} analysed, {report.failed} failed, {_plural(report.skipped_files, 'file')} skipped")
    if report.none_analysed:
        out.append("; model classes were found but none was analysed", TOOL_ERROR_STYLE)
    if report.tool_errors:
        out.append("; ")
        out.append(_plural(report.tool_errors, "tool error"), TOOL_ERROR_STYLE)
    hidden = sum(m.suppressed for m in report.models)
    if hidden:
        out.append(f"; {hidden} suppressed", NOTE_STYLE)
    return out


def _indent(renderable: RenderableType) -> Padding:
    return Padding(renderable, (0, 0, 0, 2), expand=False)
