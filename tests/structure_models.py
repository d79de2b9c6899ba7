"""Loading model files (SPEC §1 layout) and linting them with the structural rules, for the
data-driven fixture, corpus and zoo tests."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from structure_ir import Found, lint
from torch import nn

from modelcheck.diagnostics import Severity

MODELS = Path(__file__).parent / "models"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"  # CI: ../shared beside the checkout


def load_file(path: Path, *, meta: bool = False) -> tuple[nn.Module, tuple[Any, ...]] | Any:
    """Build the file's model (the last nn.Module class it defines) and its example inputs.

    ``meta=True`` builds on the meta device and returns ``(model, inputs, init_records)``.
    """
    spec = importlib.util.spec_from_file_location(f"_structure_model_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    classes = [c for c in vars(mod).values()
               if isinstance(c, type) and issubclass(c, nn.Module) and c.__module__ == mod.__name__]
    torch.manual_seed(0)
    if not meta:
        return classes[-1](), tuple(mod.example_inputs())
    from modelcheck.load.initrecord import record_init

    with torch.device("meta"), record_init() as rec:
        model = classes[-1]()
    inputs = tuple(t.to("meta") for t in mod.example_inputs())
    return model, inputs, rec.resolve(model)


def lint_model(model: nn.Module, inputs: tuple[Any, ...], *, prefer: str | None = None,
               init_records: Mapping[str, Any] | None = None) -> list[Found]:
    from modelcheck.trace.tracers import trace_model

    model.train()
    graph = trace_model(model, inputs, prefer=prefer)
    return lint(graph, inputs, init_records=init_records)


def worst(findings: list[Found]) -> dict[str, Severity]:
    out: dict[str, Severity] = {}
    for f in findings:
        if f.rule not in out or f.severity > out[f.rule]:
            out[f.rule] = f.severity
    return out


def loud(findings: list[Found]) -> dict[str, Severity]:
    """Codes at warning or above, with their worst severity."""
    return {c: s for c, s in worst(findings).items() if s >= Severity.WARNING}
