"""The rich terminal report, rendered without colour (as in a CI log) and asserted on as text."""

from __future__ import annotations

import re
from dataclasses import replace
from io import StringIO

import pytest
import render_cases as rc
from rich.console import Console

from modelcheck.diagnostics import (
    FileMessage,
    Finding,
    Metrics,
    ModelReport,
    ModuleBound,
    RunReport,
    Severity,
)
from modelcheck.numbers import fmt_count, fmt_num, fmt_ratio
from modelcheck.render import render_text
from modelcheck.render.findings import location
from modelcheck.render.sparkline import BARS

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def render(report: RunReport, *, width: int = 100, colour: bool = False, **kwargs: object) -> str:
    if colour:
        console = Console(
            file=StringIO(), width=width, color_system="truecolor", force_terminal=True
        )
    else:
        console = Console(file=StringIO(), width=width, color_system=None, force_terminal=False)
    render_text(report, console, **kwargs)  # type: ignore[arg-type]
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out


def only(*models: ModelReport) -> RunReport:
    return RunReport(models=models)


def test_plain_output_has_no_escape_codes_and_fits_the_width() -> None:
    out = render(rc.FULL)
    assert "\x1b[" not in out
    # file-level lines, error lines, notes and the summary are not wrapped off a terminal (hints stay
    # copy-pasteable); everything else fits the width
    whole = {f"{m.file}: {m.severity.value}: {m.message}" for m in rc.FULL.messages}
    whole |= {f"{m.file}: {m.model}: error [{m.error.code}]: {m.error.message}" for m in rc.FULL.models if m.error}
    whole |= {f"  note: {n}" for m in rc.FULL.models for n in m.notes}
    assert whole <= set(out.splitlines())
    summary = next(line for line in out.splitlines() if line.startswith(f"{len(rc.FULL.models)} models, "))
    assert max(len(line) for line in out.splitlines() if line not in whole | {summary}) <= 100


LONG_HINT = (
    "input `x` of `Net.forward` is int64 (4, 16) but the first layer `fc` (Linear) takes float at "
    "models/some/deeply/nested/package/net.py:14 (fix --input-shape or input-shapes in the config)"
)
LONG_ERROR = replace(rc.BROKEN, error=replace(rc.BROKEN.error, code="inputs", message=LONG_HINT))  # type: ignore[arg-type]
LONG_NOTE = replace(rc.CLEAN, notes=(f"no example inputs: {LONG_HINT}; add an example_inputs() method or function",))


@pytest.mark.parametrize("model", [LONG_ERROR, LONG_NOTE], ids=["error", "note"])
def test_error_lines_and_notes_do_not_wrap_off_a_terminal(model: ModelReport) -> None:
    line = (f"{model.file}: {model.model}: error [inputs]: {LONG_HINT}" if model.error
            else f"  note: {model.notes[0]}")
    assert len(line) > 100
    plain = render(only(model), width=100)
    assert line in plain.splitlines()  # one whole line: the hint can be copied
    assert plain.count(LONG_HINT) == 1
    # a terminal still wraps them to its width
    coloured = ANSI.sub("", render(only(model), width=100, colour=True))
    assert line not in coloured.splitlines()
    assert max(len(x.rstrip()) for x in coloured.splitlines()) <= 100
    assert " ".join(line.split()) in " ".join(coloured.split())


def test_colour_only_repeats_the_words() -> None:
    coloured = render(rc.FULL, colour=True)
    assert "\x1b[" in coloured
    assert ANSI.sub("", coloured).split() == render(rc.FULL).split()  # the same words, wrapped or not


def test_deterministic() -> None:
    assert render(rc.FULL, verbose=True) == render(rc.FULL, verbose=True)


def test_header_names_file_model_size_tracer_and_inputs() -> None:
    out = render(only(rc.CLEAN))
    assert f"{rc.CLEAN.file}: {rc.CLEAN.model}" in out
    assert f"{fmt_count(rc.CLEAN.num_parameters)} parameters" in out
    assert f"traced with {rc.CLEAN.tracer}" in out
    assert str(rc.CLEAN.input_source) in out
    assert "no findings" in out


def test_metrics_line() -> None:
    out = render(only(rc.CLEAN))
    m = rc.CLEAN.metrics
    assert f"forward gain {fmt_num(m.forward_gain)}" in out
    assert f"backward gain {fmt_num(m.backward_gain)}" in out
    assert f"Lipschitz bound {fmt_num(m.lipschitz_upper_bound)}" in out


def test_unbounded_and_non_finite_metrics() -> None:
    out = render(only(rc.NONFINITE))
    assert "forward gain inf" in out and "backward gain nan" in out
    assert "unbounded (softmax attention)" in out
    unknown = replace(rc.NONFINITE, lipschitz_reason=None)
    assert "Lipschitz bound unknown" in render(only(unknown))


def test_measured_gains_shown_beside_predicted() -> None:
    measured = Metrics(forward_gain=1.5, backward_gain=0.8)
    probed = replace(rc.CLEAN, measured=measured, probe_device="cuda:0")
    out = render(only(probed))
    assert "probed on cuda:0" in out
    assert f"(measured {fmt_num(1.5)})" in out and f"(measured {fmt_num(0.8)})" in out


@pytest.mark.parametrize("f", rc.FINDINGS, ids=lambda f: f.rule)
def test_every_finding_appears_with_code_module_location_and_message(f: Finding) -> None:
    out = render(only(rc.MIXED))
    flat = " ".join(out.split())  # messages may wrap
    assert f.rule in out
    assert (f.module or "(model)") in out
    assert location(f, rc.MIXED) in flat
    assert " ".join(f.message.split()) in flat  # markup-like "[B, T, 64]" printed literally
    if f.fix:
        assert f"fix: {f.fix}" in flat


def test_findings_sorted_most_severe_first() -> None:
    reordered = replace(rc.MIXED, findings=tuple(reversed(rc.FINDINGS)))
    out = render(only(reordered))
    shown = sorted(rc.FINDINGS, key=lambda f: out.index(f.rule))
    ranks = [f.severity.rank for f in shown]
    assert ranks == sorted(ranks, reverse=True)


def test_probe_verdicts_only_when_present() -> None:
    out = render(only(rc.MIXED))
    assert "probe: confirmed" in out and "probe: not confirmed" in out
    unprobed = replace(rc.MIXED, findings=tuple(f.with_(probe=None) for f in rc.FINDINGS))
    assert "probe" not in render(only(unprobed))


def test_profile_sparklines_with_extremes_and_steepest_step() -> None:
    out = render(only(rc.MIXED))
    rows = [
        line for line in out.splitlines() if line.strip().startswith(("activation", "gradient"))
    ]
    assert len(rows) == 2
    assert all(any(c in BARS for c in row) for row in rows)
    first, last = rc.MIXED.profile[0], rc.MIXED.profile[-1]
    assert f"min {fmt_num(first.gradient_rms)} ({first.label})" in out
    assert f"max {fmt_num(last.gradient_rms)} ({last.label})" in out
    step = rc.MIXED.profile[1].gradient_rms / rc.MIXED.profile[0].gradient_rms  # type: ignore[operator]
    assert (
        f"steepest gradient change {fmt_ratio(1 / step)} through {rc.MIXED.profile[1].label}" in out
    )
    assert "steepest activation change" not in out  # a 1% wobble is not news


def test_no_profile_no_sparkline() -> None:
    out = render(only(replace(rc.MIXED, profile=())))
    assert "profile" not in out and not any(c in out for c in BARS)


def test_measured_profile_rows() -> None:
    out = render(only(rc.NONFINITE))
    for row in ("activation (predicted)", "activation (measured)", "gradient (measured)"):
        assert row in out


SKIP = FileMessage("examples/blocks.py", Severity.INFO, "skipped class Configurable: needs arguments",
                   skipped=("Configurable",), skip=True)


def test_notes_and_tool_error_line() -> None:
    out = render(rc.FULL)
    assert f"note: {rc.MIXED.notes[0]}" in out
    err = rc.BROKEN.error
    assert err is not None
    assert f"{rc.BROKEN.file}: {rc.BROKEN.model}: error [{err.code}]: {err.message}" in out
    assert "Traceback" not in out
    assert "Traceback" in render(rc.FULL, verbose=True)


def test_file_message() -> None:
    flat = " ".join(render(rc.FULL).split())
    assert f"{rc.SKIPPED.file}: info: {rc.SKIPPED.message}" in flat


@pytest.mark.parametrize(
    ("report", "summary"),
    [
        (rc.FULL, "4 models, 2 errors, 1 warning, 2 infos in 5 files; 3 analysed, 1 failed, 0 files skipped; "
                  "1 tool error; 2 suppressed"),
        (only(rc.CLEAN), "1 model, 0 errors, 0 warnings, 0 infos in 1 file; 1 analysed, 0 failed, 0 files skipped"),
        (RunReport(), "0 models, 0 errors, 0 warnings, 0 infos in 0 files; 0 analysed, 0 failed, 0 files skipped"),
        (RunReport(models=(rc.CLEAN,), messages=(SKIP, replace(SKIP, message="not imported: top-level code at line 3"))),
         "1 model, 0 errors, 0 warnings, 0 infos in 2 files; 1 analysed, 0 failed, 1 file skipped"),
        (RunReport(messages=(SKIP,)),
         "0 models, 0 errors, 0 warnings, 0 infos in 1 file; 0 analysed, 0 failed, 1 file skipped; "
         "model classes were found but none was analysed"),
    ],
)
def test_summary(report: RunReport, summary: str) -> None:
    out = render(report)
    assert summary in out.splitlines()  # one whole line, the same whatever was or was not skipped
    # the counts come from the report, not from the renderer's own bookkeeping
    assert f"{report.count(Severity.ERROR)} error" in summary


def test_verbose_adds_numbers_and_profile_table_and_legend() -> None:
    out = render(only(rc.MIXED), verbose=True, rules=rc.RULES)
    assert "numbers: backward_gain=" in out
    for stat in rc.MIXED.profile:
        assert stat.label in out
    assert f"MC301 depth-gradient-vanishing: {rc.RULES['MC301'].summary}" in out


def test_findings_of_a_failed_model_still_shown() -> None:
    partial = replace(rc.BROKEN, findings=rc.FINDINGS[:1])
    out = render(only(partial))
    assert "error [constructor]" in out and rc.FINDINGS[0].rule in out
    assert "1 model, 1 error, 0 warnings, 0 infos in 1 file; 0 analysed, 1 failed, 0 files skipped; 1 tool error" in out


BOUNDS = tuple(
    ModuleBound(f"blocks.{i}.fc", 10.0 - i, "gram", certified=i != 4) for i in range(5)
)


def test_largest_module_bounds_line() -> None:
    model = replace(rc.CLEAN, module_bounds=BOUNDS)
    out = render(only(model), width=140)
    assert f"largest module Lipschitz constants: blocks.0.fc {fmt_num(10.0)}" in out
    assert "blocks.2.fc" in out and "blocks.3.fc" not in out
    assert "(+2 more, --verbose)" in out
    full = render(only(model), verbose=True, width=140)
    assert "blocks.3.fc" in full and "blocks.4.fc 6 (est.)" in full and "more, --verbose" not in full
    assert "largest module" not in render(only(rc.CLEAN))
