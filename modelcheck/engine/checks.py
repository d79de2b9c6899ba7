"""Running the passes the selected rules need, then the rules, over one traced graph.

A pass or rule that raises is a bug, not the user's fault: it becomes an ``MC000 internal-error``
finding naming the culprit, and everything else still runs. A rule whose pass could not run (no
example inputs, a crashed pass) is skipped, and a note says which and why.
"""

from __future__ import annotations

import os
import traceback
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from modelcheck.diagnostics import Finding, Severity
from modelcheck.ir import Graph, Node, SourceLoc
from modelcheck.passes import PASSES, PassContext, load_builtin, run_passes
from modelcheck.registry import INTERNAL_ERROR, options_for
from modelcheck.rule import Rule, RuleContext, Violation

METRIC_PASSES = ("signal", "lipschitz")  # always run: every report carries their numbers (SPEC §2)


@dataclass
class Outcome:
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tracebacks: list[str] = field(default_factory=list)  # of internal errors, for --debug


@dataclass(frozen=True)
class Place:
    """Where findings without a location of their own point: the model's definition."""

    linted: Path  # the linted file, resolved
    display: str  # ... as the user wrote it
    line: int | None  # the class/function definition line


def run_checks(
    graph: Graph,
    rules: Sequence[Rule],
    ctx: PassContext,
    rctx: RuleContext,
    *,
    severities: Mapping[str, Severity],
    options: Mapping[str, Mapping[str, Any]],
    place: Place,
) -> Outcome:
    out = Outcome()
    wanted = list(dict.fromkeys([p for r in rules for p in r.reads] + list(METRIC_PASSES)))
    _run_passes(graph, wanted, ctx, out, place)
    skipped_rules: dict[str, list[str]] = defaultdict(list)
    for r in rules:
        # As in run_passes: a pass that is not installed is optional, one skipped for a reason is not.
        missing = [p for p in r.requires if p in ctx.skipped]
        if missing:
            skipped_rules[", ".join(missing)].append(r.code)
            continue
        try:
            violations = r.run(graph, rctx, options_for(r, options))
            found = [_finding(r, v, graph, severities.get(r.code), place) for v in violations]
        except Exception as exc:
            out.findings.append(_internal(f"rule {r.code} ({r.name})", exc, place))
            out.tracebacks.append("".join(traceback.format_exception(exc)))
            continue
        out.findings.extend(found)
    if ctx.skipped:
        why = "; ".join(f"{name}: {reason}" for name, reason in ctx.skipped.items())
        out.notes.append(f"analyses skipped: {why}")
    for passes, codes in skipped_rules.items():
        out.notes.append(f"rules not run: {', '.join(codes)} (need {passes})")
    return out


def _run_passes(graph: Graph, wanted: list[str], ctx: PassContext, out: Outcome, place: Place) -> None:
    """Run each wanted pass (and its dependencies) once; a crash skips it and what depends on it."""
    load_builtin()
    for name in wanted:
        if name in ctx.skipped or _needs(name) & set(ctx.skipped):
            ctx.skipped.setdefault(name, f"needs {', '.join(sorted(_needs(name) & set(ctx.skipped)))}")
            continue
        try:
            run_passes(graph, [name], ctx)
        except Exception as exc:
            crashed = next((p for p in _order(name) if p not in graph.facts.get("_passes_run", [])), name)
            ctx.skipped[crashed] = f"crashed ({type(exc).__name__})"
            if crashed != name:
                ctx.skipped[name] = f"needs {crashed}"
            out.findings.append(_internal(f"analysis pass {crashed!r}", exc, place))
            out.tracebacks.append("".join(traceback.format_exception(exc)))


def _needs(name: str) -> set[str]:
    """Every pass ``name`` depends on, transitively."""
    seen: set[str] = set()
    stack = list(PASSES[name].requires) if name in PASSES else []
    while stack:
        p = stack.pop()
        if p not in seen:
            seen.add(p)
            stack.extend(PASSES[p].requires if p in PASSES else ())
    return seen


def _order(name: str) -> list[str]:
    """``name``'s dependencies first, then ``name``: the order run_passes uses."""
    out: list[str] = []

    def visit(p: str) -> None:
        if p in out or p not in PASSES:
            return
        for d in PASSES[p].requires:
            visit(d)
        out.append(p)

    visit(name)
    return out


def _internal(what: str, exc: BaseException, place: Place) -> Finding:
    return Finding(
        rule=INTERNAL_ERROR.code,
        name=INTERNAL_ERROR.name,
        severity=Severity.ERROR,
        message=(
            f"internal error in {what}: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            " (a bug in modelcheck, not in your model; rerun with --debug and report it)"
        ),
        file=place.display,
        line=place.line,
    )


def _finding(r: Rule, v: Violation, graph: Graph, override: Severity | None, place: Place) -> Finding:
    module = v.module if v.module is not None else (v.node.label if v.node is not None else None)
    loc = _source(graph, v.node, module)
    file, line = (display_path(loc.file, place), loc.line) if loc else (place.display, place.line)
    return Finding(
        rule=r.code,
        name=r.name,
        severity=Severity(override or v.severity or r.severity),
        message=v.message,
        module=module,
        file=file,
        line=line,
        fix=v.fix,
        numbers=dict(v.numbers),
        span=_span(graph, v),
    )


def _span(graph: Graph, v: Violation) -> tuple[int, int] | None:
    if v.span is None:
        return None
    try:
        a, b = graph.nodes.index(v.span[0]), graph.nodes.index(v.span[1])
    except ValueError:
        return None
    return min(a, b), max(a, b)


def _source(graph: Graph, node: Node | None, module: str | None) -> SourceLoc | None:
    if node is not None:
        loc = graph.source_of(node)
        if loc is not None:
            return loc
    path = module
    while path:  # the module's own construction line, else its closest parent's
        info = graph.modules.get(path)
        if info is not None and info.source is not None:
            return info.source
        path = path.rpartition(".")[0]
    return None


def display_path(file: str, place: Place) -> str:
    """The linted file as the user wrote it; other files relative to the working folder if inside it."""
    try:
        path = Path(file).resolve()
    except OSError:
        return file
    if path == place.linted:
        return place.display
    rel = os.path.relpath(path)
    return file if rel.startswith("..") else rel
