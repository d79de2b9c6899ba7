"""Loading model files (SPEC §1 layout) and linting them with the structural rules, for the
data-driven fixture, corpus and zoo tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import torch
from torch import nn

from modelcheck.diagnostics import Severity
from structure_ir import Found, lint

MODELS = Path(__file__).parent / "models"
CORPUS = Path("/work/shared/corpus")


def load_file(path: Path) -> tuple[nn.Module, tuple[Any, ...]]:
    """Build the file's model (the last nn.Module class it defines) and its example inputs."""
    spec = importlib.util.spec_from_file_location(f"_structure_model_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    classes = [c for c in vars(mod).values()
               if isinstance(c, type) and issubclass(c, nn.Module) and c.__module__ == mod.__name__]
    torch.manual_seed(0)
    return classes[-1](), tuple(mod.example_inputs())


def lint_model(model: nn.Module, inputs: tuple[Any, ...]) -> list[Found]:
    from modelcheck.trace import trace_model

    model.train()
    graph = trace_model(model, inputs)
    return lint(graph, inputs)


def worst(findings: list[Found]) -> dict[str, Severity]:
    out: dict[str, Severity] = {}
    for f in findings:
        if f.rule not in out or f.severity > out[f.rule]:
            out[f.rule] = f.severity
    return out


def loud(findings: list[Found]) -> dict[str, Severity]:
    """Codes at warning or above, with their worst severity."""
    return {c: s for c, s in worst(findings).items() if s >= Severity.WARNING}
