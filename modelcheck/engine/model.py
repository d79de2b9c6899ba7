"""One file's models, from import to :class:`~modelcheck.diagnostics.ModelReport` (imports torch).

Per model: build it on CPU in training mode, seeded (or on ``meta``: ``--meta``, or when a real build
runs out of memory); refuse NaN/inf weights; find example inputs; trace; run the passes and rules
(:mod:`modelcheck.engine.checks`); run the probe if asked; apply ``# noqa``; collect the metrics and the
per-layer profile. A failure of one model is that model's error report; the others still run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import time
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import torch

from modelcheck import capture
from modelcheck.config.settings import Settings
from modelcheck.diagnostics import (
    Finding,
    LayerStat,
    Metrics,
    ModelReport,
    ModuleBound,
    Severity,
)
from modelcheck.engine import evidence, progress
from modelcheck.engine.checks import Place, run_checks
from modelcheck.engine.records import (
    FileJob,
    error_info,
)
from modelcheck.engine.related import group
from modelcheck.errors import HostileError, TraceError
from modelcheck.frames import where_raised
from modelcheck.ir import Graph, Op, SourceLoc
from modelcheck.load import build as loading
from modelcheck.load import inputs as example
from modelcheck.load.choose import Choice, memory_budget
from modelcheck.load.discovery import package_root
from modelcheck.load.signature import declared_sizes
from modelcheck.load.sites import record_sites
from modelcheck.passes import PassContext
from modelcheck.passes.lipschitz.compose import norm_rows_observation
from modelcheck.registry import INTERNAL_ERROR
from modelcheck.rule import Rule, RuleContext
from modelcheck.suppress import Suppressor
from modelcheck.trace.tracers import trace_model

if TYPE_CHECKING:
    from modelcheck.probe.records import ProbeResult


def lint_model(
    cand: Choice,
    module: ModuleType,
    job: FileJob,
    settings: Settings,
    rules: Sequence[Rule],
    severities: Mapping[str, Severity],
    suppressor: Suppressor,
) -> ModelReport:
    t0 = time.perf_counter()
    try:
        report = _lint_model(cand, module, job, settings, rules, severities, suppressor)
    except Exception as exc:  # ModelError: the user's to fix; anything else: our bug, reported as such
        report = ModelReport(file=job.src.display, model=cand.name, status="error", error=error_info(exc, settings))
    except BaseException as exc:  # SystemExit, KeyboardInterrupt, GeneratorExit...: the model's code
        report = ModelReport(file=job.src.display, model=cand.name, status="error", error=error_info(_hostile(exc, job), settings))
    return dataclasses.replace(report, seconds=time.perf_counter() - t0)


def _hostile(exc: BaseException, job: FileJob) -> HostileError:
    folder = job.src.path.parent
    where = where_raised(exc.__traceback__, (folder.resolve(), package_root(folder)[0].resolve()))
    at = f" at {where}" if where else ""
    return HostileError(
        f"the model's code raised {loading.one_line(exc)}{at}, which ends a process; modelcheck contained it",
        hint="a model must not exit or interrupt the process it is built or run in",
    )


def _lint_model(
    cand: Choice,
    module: ModuleType,
    job: FileJob,
    settings: Settings,
    rules: Sequence[Rule],
    severities: Mapping[str, Severity],
    suppressor: Suppressor,
) -> ModelReport:
    folder = job.src.path.parent
    roots = tuple(dict.fromkeys((folder, package_root(folder)[0], settings.root.resolve())))
    specs = settings.input_shapes_for(cand.name)
    built_class = cand.obj if cand.kind == "class" else getattr(module, cand.builds or "", None)
    if not specs and not hasattr(module, "example_inputs"):
        example.check_signature(built_class)  # before a full-size build: can its forward be fed?
    meta = settings.meta
    pre_notes = [f"built with {n}" for n in cand.arguments.notes]
    budget = memory_budget()
    if not meta and cand.meta_bytes is not None and cand.meta_bytes > budget:
        meta = True
        pre_notes.append(
            f"built on the meta device: its {cand.meta_parameters:,} parameters ({cand.meta_bytes / 2**30:.1f} GiB) "
            f"exceed the memory budget ({budget / 2**30:.1f} GiB, half the available memory)"
        )
    model, sites, meta, notes, init_records = loading.build(
        cand, cand.arguments.kwargs,
        meta=meta, sites=lambda: _record_sites(roots), roots=roots,
    )
    notes[:0] = pre_notes
    if cand.line is not None:  # modelcheck built the root itself: its best line is the definition
        sites = {**sites, id(model): SourceLoc(str(job.src.path), cand.line)}
    model.train()
    num_parameters = sum(int(p.numel()) for p in model.parameters())
    progress.report("built", name=cand.name, parameters=num_parameters)  # the worker's timeout grows with it
    if num_parameters == 0:
        notes.append("the model has no parameters: only its structure is checked")
    if not meta:
        loading.check_weights(model)
    gc.freeze()  # the model lives until the report is made
    if meta:  # said once: the size-first and out-of-memory notes already say why
        said = next((i for i, n in enumerate(notes) if n.startswith("built on the meta device")), None)
        if said is None:
            notes.append("built on the meta device: predictions use shapes and init statistics only")
        else:
            notes[said] += "; predictions use shapes and init statistics only"
    rows = None if meta else norm_rows_observation(model)  # the lipschitz pass's, taken while checking inputs
    # what that forward sees, if it runs (and its backward, for a model small enough: the size rule)
    measurement = None if meta else capture.Measurement(backward=capture.backward_is_cheap(num_parameters))
    found = example.resolve(
        model, module, cand.name, specs, meta=meta, roots=roots, observe=rows,
        measure=measurement, sizes=declared_sizes(model, cand.arguments.kwargs.values()),
    )
    if found.note:
        notes.append(found.note)
    if found.tensors and any(isinstance(t, torch.Tensor) and not t.is_floating_point() and t.dim() >= 2 for t in found.tensors):
        notes.append("forward gain measured against the RMS of the first embedding's output (token ids are not a signal)")

    torch.manual_seed(0)
    try:
        # no check forward ran: the trace's own forward is measured (fx's lowering; export/hooks: below)
        graph = trace_model(model, found.tensors, sites=sites, prefer=settings.tracer,
                            measure=measurement if found.unchecked_hint is not None else None)
    except TraceError:
        example.diagnose(model, found, roots)  # raises the forward's own error when that is the cause
        raise
    if found.unchecked_hint is not None and not meta and graph.tracer != "fx":
        # fx ran the forward for real (its shape propagation); export's fake tensors and the hooks may accept
        # inputs the forward cannot take (int ids into a float layer): run them once, for real.
        example.forward(model, found.tensors, found.source, found.unchecked_hint, roots, measure=measurement)
    elif found.unchecked_hint is not None and evidence.has_dropout(graph):
        measurement = None  # fx ran in training mode: its dropout is not the check forward's (evidence.py)
    notes[:0] = graph.notes
    place = Place(job.src.path, job.src.display, cand.line)
    ctx = PassContext(
        inputs=found.tensors, meta=meta, init_records=init_records, model=model, bounds=settings.bounds,
        norm_rows=rows.values if rows is not None else None,
    )
    rctx = RuleContext(
        model=cand.name, file=job.src.display, has_inputs=found.tensors is not None
    )
    torch.manual_seed(0)
    outcome = run_checks(graph, rules, ctx, rctx, severities=severities, options=settings.options, place=place)
    notes += outcome.notes
    zero = graph.facts.get("zero_init")
    if zero is not None and zero.as_if_labels():
        heads = ", ".join(zero.as_if_labels())
        notes.append(f"gains predicted as if {heads} had PyTorch's default init: zero-initialised by design, "
                     "a zero head makes both gains exactly 0")
    signal = graph.facts.get("signal")
    predicted = Metrics(getattr(signal, "forward_gain", None), getattr(signal, "backward_gain", None))
    checked = evidence.measured_metrics(measurement)
    if checked is not None and not (zero is not None and zero.as_if_labels()):  # "as if" is not what ran
        findings = evidence.weigh(outcome.findings, graph, predicted, measurement)
    else:
        checked, findings = None, outcome.findings
    profile = _profile(graph)
    measured: Metrics | None = checked  # the input check's forward; the probe's measurement replaces it
    probe = None
    if settings.probe is not None:
        probe = _probe(model, found.tensors, meta, graph, findings, settings, notes)
    if probe is not None:
        findings = _selected(list(probe.findings), rules, severities)
        profile, measured = probe.profile or profile, probe.metrics

    kept, suppressed = suppressor.apply(findings, lambda f: Path(f.file) if f.file and f.line else None)
    kept = group(kept)  # after selection and noqa: a silenced primary promotes the next
    kept.sort(key=lambda f: (-f.severity.rank, f.rule, f.line or 0, f.module or ""))
    lipschitz = graph.facts.get("lipschitz")
    return ModelReport(
        file=job.src.display,
        model=cand.name,
        metrics=dataclasses.replace(predicted, lipschitz_upper_bound=getattr(lipschitz, "upper_bound", None)),
        findings=tuple(kept),
        tracer=graph.tracer,
        num_parameters=num_parameters,
        input_source=found.source,
        notes=tuple(dict.fromkeys(notes)),
        profile=profile,
        suppressed=suppressed,
        lipschitz_reason=getattr(lipschitz, "reason", None) or None,
        module_bounds=_module_bounds(graph),
        measured=measured,
        probe_device=(probe.device or None) if probe is not None else None,
        probe_summary=probe.summary() if probe is not None else None,
        internal_tracebacks=tuple(outcome.tracebacks) if settings.debug else (),
    )


def _selected(findings: Sequence[Finding], rules: Sequence[Rule], severities: Mapping[str, Severity]) -> list[Finding]:
    """The probe's own findings (MC900-MC903) under the --select/--ignore and severity overrides the
    static ones already went through (internal errors always pass)."""
    codes = {r.code for r in rules} | {INTERNAL_ERROR.code}
    out = []
    for f in findings:
        if f.rule not in codes:
            continue
        sev = severities.get(f.rule)
        out.append(dataclasses.replace(f, severity=sev) if sev is not None and sev is not f.severity else f)
    return out


def _record_sites(roots: tuple[Path, ...]) -> contextlib.AbstractContextManager[Any]:
    return record_sites([str(r) for r in roots])


def _module_bounds(graph: Graph) -> tuple[ModuleBound, ...]:
    """Each module's own Lipschitz constant (the lipschitz pass's ``per_module``), largest first."""
    per = getattr(graph.facts.get("lipschitz"), "per_module", None) or {}
    how: dict[str, tuple[str, bool]] = {}
    for node in graph.nodes:
        f = node.facts.get("lipschitz")
        if f is not None and node.module_path in per and f.bound == per[node.module_path]:
            how[node.module_path] = (f.method, f.certified)
    rows = [ModuleBound(p, float(b), *how.get(p, ("", True))) for p, b in per.items()]
    return tuple(sorted(rows, key=lambda r: (-r.bound, r.module)))


def _profile(graph: Graph) -> tuple[LayerStat, ...]:
    """One row per weight-bearing or activation node the signal pass predicted."""
    rows = []
    for node in graph.nodes:
        state = node.facts.get("signal")
        if state is not None and (node.params or node.op is Op.ACTIVATION):
            rows.append(LayerStat(node.label, state.rms, state.grad_rms))
    return tuple(rows)


def _probe(
    model: torch.nn.Module,
    tensors: tuple[Any, ...] | None,
    meta: bool,
    graph: Graph,
    findings: list[Finding],
    settings: Settings,
    notes: list[str],
) -> ProbeResult | None:
    """The probe's run: its verdicts on ``findings``, its own findings, profile, measured gains, device
    and summary (the JSON report's ``probe``); None where it cannot run."""
    if meta or tensors is None:
        notes.append("probe skipped: it needs real weights and example inputs")
        return None
    from modelcheck.probe import ProbeOptions, run_probe

    assert settings.probe is not None
    given = {k: v for k, v in dataclasses.asdict(settings.probe).items() if v is not None}
    result = run_probe(model, tensors, graph, tuple(findings), ProbeOptions(**given))  # validates its options
    notes.extend(result.notes)
    return result
