"""Analysis passes: each computes numbers once over the graph and stores typed results on nodes.

A pass is registered with :func:`register` under a name, declares the passes it needs, and is run at
most once per graph by :func:`run_passes` (dependencies first). Passes compute; rules judge.

Stage 5. Sub-packages hold the larger passes (``signal``, ``lipschitz``, ``structure``); ``facts`` holds
the typed results and their accessors and ``walks`` the read-only walks over the graph: the only parts of
this stage that rules import.

May import: records (``errors``, ``ir``, ``diagnostics``, ``numbers``), ``numerics`` and the tools
(``capture``, ``layers``, ``frames``). Never ``load`` or ``trace``: a pass reads the graph, not the model
file or the tracer.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from modelcheck.ir import Graph

# Modules that register the built-in passes when imported.
_BUILTIN = (
    "modelcheck.passes.structure.summary",
    "modelcheck.passes.init_stats",
    "modelcheck.passes.zero_init",
    "modelcheck.passes.signal.propagate",
    "modelcheck.passes.depth",
    "modelcheck.passes.lipschitz.compose",
    "modelcheck.passes.jacobian",
    "modelcheck.passes.init_gains",
)


@dataclass(frozen=True)
class JacobianOptions:
    """How hard the jacobian pass tries: a linter spends seconds, not minutes."""

    mode: str = "eval"  # "train": by double-VJP in training mode, buffers restored afterwards
    max_iters: int = 30
    tol: float = 1e-4
    budget_s: float = 2.0  # the whole pass
    max_modules: int = 256  # per-module norms for at most this many modules


@dataclass
class PassContext:
    """What passes may read besides the graph, typed: a pass asks for nothing else.

    ``inputs`` are None on meta or when none were found; ``model`` is the live module where passes may
    run it locally (local simulation, Jacobian norms, norm-row statistics), None where they may not.
    """

    inputs: tuple[Any, ...] | None = None
    meta: bool = False
    init_records: Mapping[str, Any] = field(default_factory=dict)  # param name -> InitRecord
    model: Any = None  # the nn.Module (typed loosely: this package does not import torch.nn)
    bounds: str = "fast"  # Lipschitz bounds: "fast" | "tight"
    norm_rows: Mapping[str, Any] | None = None  # norm-row statistics the input check's forward took
    jacobian: JacobianOptions = field(default_factory=JacobianOptions)
    skipped: dict[str, str] = field(default_factory=dict)  # pass name -> why it did not run


@dataclass(frozen=True)
class Pass:
    name: str
    run: Callable[[Graph, PassContext], None]
    requires: tuple[str, ...] = ()


PASSES: dict[str, Pass] = {}


def register(name: str, requires: Iterable[str] = ()) -> Callable[[Callable[[Graph, PassContext], None]], Callable[[Graph, PassContext], None]]:
    def wrap(fn: Callable[[Graph, PassContext], None]) -> Callable[[Graph, PassContext], None]:
        PASSES[name] = Pass(name=name, run=fn, requires=tuple(requires))
        return fn

    return wrap


def load_builtin() -> None:
    for mod in _BUILTIN:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:  # a pass module not written yet must not break the rest
            if exc.name != mod:
                raise


def run_passes(graph: Graph, wanted: Iterable[str], ctx: PassContext) -> list[str]:
    """Run ``wanted`` and their dependencies once each; returns the names that ran, in order."""
    load_builtin()
    done: list[str] = graph.facts.setdefault("_passes_run", [])
    order: list[str] = []

    def visit(name: str, stack: tuple[str, ...] = ()) -> None:
        if name in done or name in order:
            return
        if name in stack:
            raise RuntimeError(f"pass dependency cycle: {' -> '.join(stack + (name,))}")
        p = PASSES.get(name)
        if p is None:
            return
        for dep in p.requires:
            visit(dep, stack + (name,))
        order.append(name)

    for name in wanted:
        visit(name)
    for name in order:
        # A dependency that is not installed is optional; one that was skipped for a reason is not.
        blocked = [d for d in PASSES[name].requires if d in PASSES and d in ctx.skipped]
        if blocked:
            ctx.skipped[name] = f"needs {', '.join(blocked)} ({ctx.skipped[blocked[0]]})"
            continue
        PASSES[name].run(graph, ctx)
        done.append(name)
    return order
