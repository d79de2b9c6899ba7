"""Helpers for the tracer tests: build fixture models with construction sites, find source lines."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from modelcheck.ir import Graph, SourceLoc
from modelcheck.load.sites import record_sites

HERE = Path(__file__).resolve().parent
MODELS_FILE = HERE / "trace_models.py"


def load(path: Path = MODELS_FILE) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"trace_fixture_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FIXTURES = load()


def build(name: str, **kwargs: Any) -> tuple[nn.Module, tuple[Any, ...], dict[int, SourceLoc]]:
    """(model, example inputs, sites) of a fixture class, built with site recording on."""
    torch.manual_seed(0)
    with record_sites([HERE]) as sites:
        model = getattr(FIXTURES, name)(**kwargs)
    return model, model.example_inputs(), sites


def line_of(text: str, path: Path = MODELS_FILE) -> int:
    """1-based number of the only line of ``path`` containing ``text``."""
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    assert len(hits) == 1, f"{text!r} found on lines {hits}"
    return hits[0]


def signature(graph: Graph) -> list[tuple[str, str, str, tuple[int, ...] | None]]:
    """What the three tracers must agree on: op kind, module path and type, output shape."""
    return [(n.op.value, n.module_path, n.module_type, n.meta.shape if n.meta else None) for n in graph.nodes]


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    state = {f"p:{k}": v.detach().clone() for k, v in model.named_parameters()}
    state.update({f"b:{k}": v.detach().clone() for k, v in model.named_buffers()})
    return state
