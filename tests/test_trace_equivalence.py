"""The three tracers lower the same model to the same IR: op kinds, module paths and types, shapes,
parameter roles, attrs and edges, node for node."""

from __future__ import annotations

from typing import Any

import pytest
from models.trace_fixtures import build

from modelcheck.ir import Graph
from modelcheck.trace.tracers import TRACERS, trace_model

MODELS = ["KaimingMLP", "ResidualBlock", "ReZero", "SmallCNN", "LSTMTagger", "Attention", "DictOutput", "FunctionalZoo",
          "EncoderLayers"]


def _rows(g: Graph) -> list[tuple[Any, ...]]:
    return [(n.op.value, n.module_path, n.module_type, n.meta.shape if n.meta else None,
             tuple(sorted(n.params.items())), tuple(sorted((k, repr(v)) for k, v in n.attrs.items())),
             tuple(i.name for i in n.inputs)) for n in g.nodes]


@pytest.mark.parametrize("name", MODELS)
def test_tracers_agree(name: str) -> None:
    model, inputs, sites = build(name)
    graphs = {t: trace_model(model, inputs, sites=sites, prefer=t) for t in TRACERS}
    assert {t: g.tracer for t, g in graphs.items()} == {t: t for t in TRACERS}
    assert all(not g.notes for g in graphs.values())
    reference = _rows(graphs["fx"])
    for t in ("export", "hooks"):
        assert _rows(graphs[t]) == reference, t


def test_mlp_sequence() -> None:
    """The simplest case spelled out: the sequence every tracer must produce for the MLP."""
    model, inputs, sites = build("KaimingMLP")
    layers = ["inp", "hidden.0", "hidden.1", "hidden.2"]
    expected = [("input", "")] + [x for p in layers for x in (("linear", p), ("activation", ""))]
    expected += [("linear", "out"), ("output", "")]
    for t in TRACERS:
        g = trace_model(model, inputs, sites=sites, prefer=t)
        assert [(n.op.value, n.module_path) for n in g.nodes] == expected, t
