"""Findings only a training run can produce (documented as rules ``rules/probe/*``, MC900-MC903)."""

from __future__ import annotations

import math
import re
from typing import NamedTuple, Sequence

from modelcheck.diagnostics import Finding, ProbeVerdict, Severity
from modelcheck.ir import Graph
from modelcheck.numbers import fmt_num
from modelcheck.probe.records import AdamReport, NonFinite, SharpnessReport


class ProbeRuleId(NamedTuple):
    code: str
    name: str
    severity: Severity


NONFINITE = ProbeRuleId("MC900", "probe-nonfinite", Severity.ERROR)
FROZEN_LAYERS = ProbeRuleId("MC901", "probe-frozen-layers", Severity.WARNING)
UNSTABLE_LR = ProbeRuleId("MC902", "probe-unstable-lr", Severity.WARNING)
ADAM_OSCILLATION = ProbeRuleId("MC903", "probe-adam-oscillation", Severity.INFO)

FROZEN = 1e-6  # relative update below this after the run: the layer did not move


def _finding(rid: ProbeRuleId, message: str, *, module: str | None = None, graph: Graph | None = None,
             severity: Severity | None = None, fix: str | None = None,
             numbers: dict[str, float] | None = None) -> Finding:
    file = line = None
    if graph is not None and module:
        info = graph.modules.get(module)
        if info is not None and info.source is not None:
            file, line = info.source.file, info.source.line
    return Finding(rule=rid.code, name=rid.name, severity=severity or rid.severity, message=message,
                   module=module if module and module != "(root)" else None, file=file, line=line, fix=fix,
                   numbers={k: v for k, v in (numbers or {}).items() if math.isfinite(v)},
                   probe=ProbeVerdict.CONFIRMED)


def nonfinite_finding(event: NonFinite, graph: Graph | None) -> Finding:
    return _finding(NONFINITE, event.detail, module=event.module, graph=graph, numbers={"step": event.step},
                    fix="lower the learning rate, add normalisation, or guard the division/log/exp that overflows")


_NUM = re.compile(r"^(.*?)(\d+)(.*)$")


def compress_labels(labels: Sequence[str], limit: int = 4) -> str:
    """``layers.0 .. layers.11`` -> ``layers.0-11``; groups by the text around the first number."""
    groups: dict[tuple[str, str], list[int]] = {}
    singles: list[str] = []
    order: list[tuple[str, str] | str] = []
    for label in labels:
        m = _NUM.match(label)
        if m is None:
            singles.append(label)
            order.append(label)
            continue
        key = (m.group(1), m.group(3))
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(int(m.group(2)))
    parts: list[str] = []
    for item in order:
        if isinstance(item, str):
            parts.append(item)
            continue
        nums = groups[item]
        lo, hi = min(nums), max(nums)
        parts.append(f"{item[0]}{lo}{item[1]}" if lo == hi else f"{item[0]}{lo}-{hi}{item[1]}")
    shown = ", ".join(parts[:limit])
    return shown + (f" and {len(parts) - limit} more" if len(parts) > limit else "")


def _common_prefix(labels: Sequence[str]) -> str | None:
    split = [label.split(".") for label in labels]
    prefix: list[str] = []
    for parts in zip(*split):
        if len(set(parts)) != 1:
            break
        prefix.append(parts[0])
    return ".".join(prefix) or None


def frozen_finding(rel_update: dict[str, float], steps: int, graph: Graph | None,
                   frac_below_eps: float | None = None) -> Finding | None:
    frozen = [label for label, v in rel_update.items() if math.isfinite(v) and v < FROZEN]
    if not frozen:
        return None
    message = (f"layers {compress_labels(frozen)} did not move in {steps} steps: "
               f"relative update < {FROZEN:g} ({len(frozen)} of {len(rel_update)} layers)")
    if frac_below_eps is not None and frac_below_eps > 0.01:
        message += f"; Adam: {100 * frac_below_eps:.3g}% of parameters have sqrt(v_hat) < eps"
    module = frozen[0] if len(frozen) == 1 else _common_prefix(frozen)
    return _finding(FROZEN_LAYERS, message, module=module, graph=graph,
                    numbers={"layers": float(len(frozen)), "max_relative_update": max(rel_update[k] for k in frozen)},
                    fix="their gradient vanishes or is exactly zero: check the init scale, zero-initialised "
                        "consecutive layers, and the depth of the path to them")


def _sharpness_words(report: SharpnessReport, lr: float) -> tuple[str, str, float]:
    values = [c.value for c in report.checks if math.isfinite(c.value)]
    top = max(values) if report.verdict == "unstable" else values[-1]
    what = "preconditioned sharpness" if report.kind == "preconditioned" else "top Hessian eigenvalue"
    return what, f"{fmt_num(report.threshold * lr)}/lr = {fmt_num(report.threshold)}", top


def stability_finding(report: SharpnessReport | None, lr: float, optimizer: str) -> Finding | None:
    """MC902 when the sharpness stays above the threshold while the loss rises (THEORY §6).

    It says what the probe measured at its own lr, never a "largest stable lr": the sharpness cannot
    back one (``stability.py``)."""
    if report is None or report.verdict != "unstable":
        return None
    what, bound, top = _sharpness_words(report, lr)
    message = (f"unstable learning rate: {what} {fmt_num(top)} > {bound} while the loss rose "
               f"({optimizer}, lr {fmt_num(lr)})")
    return _finding(UNSTABLE_LR, message, numbers={"sharpness": top, "threshold": report.threshold, "lr": lr},
                    fix=f"lower the {optimizer} learning rate below {fmt_num(lr)} (try 3-10x lower), or warm it up")


def stability_note(report: SharpnessReport | None, lr: float) -> str | None:
    """The table's "not confirmed" outcome at the threshold: edge of stability, said as a note, not a finding."""
    if report is None or report.verdict != "edge":
        return None
    what, bound, top = _sharpness_words(report, lr)
    relation = ">" if top > 1.1 * report.threshold else "~"
    return (f"probe: edge of stability: {what} {fmt_num(top)} {relation} {bound} while the loss still falls "
            f"(not a defect; Cohen et al. 2021)")


def adam_finding(report: AdamReport | None, loss_fell: bool) -> Finding | None:
    if report is None or not report.oscillating:
        return None
    fast, series = max(((report.slope_b or -math.inf), "B_T"), ((report.slope_a or -math.inf), "A_T"))
    message = (f"Adam's effective step oscillates: {series} grows with log-log slope {fmt_num(fast)} while "
               f"S_T grows with slope {fmt_num(report.slope_s)} (A_T + B_T must be o(S_T) to converge; "
               f"Chen et al. 2019)")
    return _finding(ADAM_OSCILLATION, message, severity=None if loss_fell else Severity.WARNING,
                    numbers={"slope": fast, "slope_s": report.slope_s or math.nan},
                    fix="try AMSGrad (amsgrad=True), a larger beta2, or a decaying learning rate")


def probe_findings(*items: Finding | None) -> tuple[Finding, ...]:
    return tuple(f for f in items if f is not None)
