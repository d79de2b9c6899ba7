"""trace_model on the fixture models: which tracer wins, and the IR each model must lower to."""

from __future__ import annotations

import functools
from typing import Callable

import pytest
from models.trace_fixtures import build

from modelcheck.ir import Graph, Node, Op
from modelcheck.trace.tracers import trace_model


@functools.lru_cache(maxsize=None)
def _trace(name: str) -> Graph:
    model, inputs, sites = build(name)
    return trace_model(model, inputs, sites=sites)


def _at(graph: Graph, path: str) -> list[Node]:
    return [n for n in graph.nodes if n.module_path == path and n.module_type]


def check_mlp(g: Graph) -> None:
    linears = g.of(Op.LINEAR)
    assert [n.module_path for n in linears] == ["inp", "hidden.0", "hidden.1", "hidden.2", "out"]
    assert all(n.params == {"weight": f"{n.module_path}.weight", "bias": f"{n.module_path}.bias"} for n in linears)
    assert (linears[0].attrs["in_features"], linears[0].attrs["out_features"]) == (16, 32)
    assert [n.attrs["fn"] for n in g.of(Op.ACTIVATION)] == ["relu"] * 4
    assert g.inputs[0].meta is not None and g.inputs[0].meta.shape == (8, 16)
    assert g.output is not None and g.output.inputs == (linears[-1],)


def check_residual(g: Graph) -> None:
    (add,) = g.of(Op.ADD)
    assert add.inputs[0] is g.inputs[0] and add.inputs[1].module_path == "fc2"
    (norm,) = g.of(Op.NORM)
    assert norm.attrs["kind"] == "layer" and norm.params == {"weight": "norm.weight", "bias": "norm.bias"}
    assert [(n.attrs["fn"], n.module_type) for n in g.of(Op.ACTIVATION)] == [("gelu", "GELU")]


def check_rezero(g: Graph) -> None:
    (alpha,) = g.of(Op.PARAM)  # one PARAM node however often alpha is read
    assert alpha.params == {"value": "alpha"}
    muls = g.of(Op.MUL)
    assert len(muls) == 2 and all(alpha in m.inputs and "scalar" not in m.attrs for m in muls)
    adds = g.of(Op.ADD)
    assert len(adds) == 2 and all(m in a.inputs for m, a in zip(muls, adds))


def check_cnn(g: Graph) -> None:
    c1, c2 = g.of(Op.CONV)
    assert (c1.attrs["stride"], c1.attrs["padding"], c1.attrs["kernel_size"]) == ((1, 1), (1, 1), (3, 3))
    assert (c2.attrs["stride"], c2.attrs["transposed"], c2.params.get("bias")) == ((2, 2), False, None)
    bn1, bn2 = g.of(Op.NORM)
    assert bn1.attrs["kind"] == "batch" and bn1.attrs["training"] is True
    assert bn1.params == {"weight": "bn1.weight", "bias": "bn1.bias", "running_mean": "bn1.running_mean",
                          "running_var": "bn1.running_var"}
    pool, gap = g.of(Op.POOL)
    assert (pool.attrs["kind"], pool.attrs["kernel"], pool.attrs["stride"]) == ("max", 2, 2)
    assert (gap.attrs["kind"], gap.attrs["output_size"]) == ("adaptive_avg", 1)
    assert _at(g, "flat")[0].op is Op.RESHAPE
    assert g.of(Op.LINEAR)[0].meta.shape == (4, 10)


def check_transformer(g: Graph) -> None:
    assert g.tracer == "export" and g.notes[0].startswith("torch.fx:") and "used torch.export" in g.notes[0]
    assert len(g.of(Op.ADD)) == 4  # two residual joins per layer
    for i in range(2):
        norms = [n.module_path for n in g.of(Op.NORM) if n.module_path.startswith(f"encoder.layers.{i}.")]
        assert norms == [f"encoder.layers.{i}.norm1", f"encoder.layers.{i}.norm2"]
        (attn,) = _at(g, f"encoder.layers.{i}.self_attn")
        assert attn.op is Op.ATTENTION and attn.module_type == "MultiheadAttention"
        assert attn.inputs[0] is attn.inputs[1] is attn.inputs[2]  # self-attention: q = k = v
        assert attn.inputs[0].module_path == f"encoder.layers.{i}.norm1"
        joins = [a for a in g.of(Op.ADD) if a.module_path == f"encoder.layers.{i}"]
        assert len(joins) == 2 and joins[1].inputs[0] is joins[0]  # x + ff(norm2(x + sa(norm1(x))))
    assert len(g.of(Op.LINEAR)) == 5


def check_encoder_layers(g: Graph) -> None:
    # the fused fast path is switched off for the trace: fx follows the layers, and the flag is put back
    import torch

    assert not g.notes and torch.backends.mha.get_fastpath_enabled()
    assert [n.module_path for n in g.of(Op.ATTENTION)] == ["layers.0.self_attn", "layers.1.self_attn"]
    assert [n.module_path for n in g.of(Op.NORM)] == [f"layers.{i}.norm{j}" for i in (0, 1) for j in (1, 2)]
    assert len(g.of(Op.ADD)) == 4


def check_shape_branch(g: Graph) -> None:
    assert g.tracer == "export" and "data-dependent control flow" in g.notes[0]
    (mul,) = g.of(Op.MUL)
    assert mul.attrs["scalar"] == 2.0 and mul.inputs == (g.inputs[0],)


def check_data_branch(g: Graph) -> None:
    assert g.tracer == "hooks" and [n.split(":")[0] for n in g.notes[:2]] == ["torch.fx", "torch.export"]
    assert [n.attrs["fn"] for n in g.of(Op.ACTIVATION)] == ["tanh"]  # the branch the inputs took
    assert any("tensor values become Python values" in n for n in g.notes)


def check_numpy(g: Graph) -> None:
    assert g.tracer == "hooks"
    (gate,) = g.of(Op.CONST)  # the numpy result enters as a constant
    assert any(gate in m.inputs for m in g.of(Op.MUL))
    assert [n.module_path for n in g.of(Op.LINEAR)] == ["fc1", "fc2", "fc2"]
    assert any("numpy" in n for n in g.notes)


def check_lstm(g: Graph) -> None:
    (rnn,) = g.of(Op.RECURRENT)
    assert rnn.module_type == "LSTM" and rnn.attrs["hidden_size"] == 24 and rnn.inputs[0].op is Op.EMBEDDING
    assert set(rnn.params) == {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"}
    (head,) = g.of(Op.LINEAR)
    assert head.inputs[0].op is Op.SPLIT and head.inputs[0].attrs["index"] == 0 and head.inputs[0].inputs == (rnn,)


def check_attention(g: Graph) -> None:
    mha, sdpa = g.of(Op.ATTENTION)
    assert mha.module_type == "MultiheadAttention" and mha.attrs["num_heads"] == 2
    assert set(mha.params) == {"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"}
    assert sdpa.target == "scaled_dot_product_attention" and sdpa.attrs["is_causal"] and sdpa.attrs["scale"] is None
    (chunk,) = [n for n in g.of(Op.SPLIT) if n.target == "chunk"]
    q, k = sorted((n for n in g.of(Op.SPLIT) if n.inputs == (chunk,)), key=lambda n: n.attrs["index"])
    assert sdpa.inputs[:2] == (q, k)
    (div,) = g.of(Op.DIV)
    assert div.attrs["scalar"] == 4.0 and div.inputs[0].op is Op.MATMUL
    (sm,) = g.of(Op.SOFTMAX)
    assert sm.attrs["dim"] == -1 and not sm.attrs["log"] and sm.inputs == (div,)


def check_dict_output(g: Graph) -> None:
    assert g.output is not None
    assert [n.module_path for n in g.output.inputs] == ["fc", "head"]  # last_hidden_state first, ints left out


CASES: list[tuple[str, str, Callable[[Graph], None]]] = [
    ("KaimingMLP", "fx", check_mlp),
    ("ResidualBlock", "fx", check_residual),
    ("ReZero", "fx", check_rezero),
    ("SmallCNN", "fx", check_cnn),
    ("TransformerStack", "export", check_transformer),
    ("EncoderLayers", "fx", check_encoder_layers),
    ("ShapeBranch", "export", check_shape_branch),
    ("DataBranch", "hooks", check_data_branch),
    ("NumpyRoundTrip", "hooks", check_numpy),
    ("LSTMTagger", "fx", check_lstm),
    ("Attention", "fx", check_attention),
    ("DictOutput", "fx", check_dict_output),
]


@pytest.mark.parametrize(("name", "tracer", "check"), CASES, ids=[c[0] for c in CASES])
def test_model_lowering(name: str, tracer: str, check: Callable[[Graph], None]) -> None:
    g = _trace(name)
    assert g.tracer == tracer, g.notes
    check(g)


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_graph_is_well_formed(name: str) -> None:
    g = _trace(name)
    seen: set[int] = set()
    for n in g.nodes:
        assert all(id(i) in seen for i in n.inputs), f"{n} uses a later node"
        seen.add(id(n))
        assert n.op is Op.INPUT or n.op is Op.CONST or n.op is Op.PARAM or n.inputs or n.params, n
    assert len({n.name for n in g.nodes}) == len(g.nodes)
    assert [n.op for n in g.nodes].count(Op.OUTPUT) == 1 and g.nodes[-1].op is Op.OUTPUT
    model, _, _ = build(name)
    assert set(g.parameters) == {k for k, _ in model.named_parameters()}
    assert set(g.modules) == {k for k, _ in model.named_modules()}
    assert all(n.meta is not None for n in g.nodes if n.op is not Op.OUTPUT)


def test_export_reads_source_lines_only_for_the_frames_it_keeps(monkeypatch: pytest.MonkeyPatch) -> None:
    # lazy_stack_traces swaps torch's traceback capture during export: same lines, then put back
    import contextlib

    import torch.fx.proxy as fx_proxy
    from models.trace_fixtures import line_of

    from modelcheck.trace import export

    before = fx_proxy.CapturedTraceback
    lazy = _trace("ShapeBranch")
    assert fx_proxy.CapturedTraceback is before
    monkeypatch.setattr(export, "lazy_stack_traces", contextlib.nullcontext)
    model, inputs, sites = build("ShapeBranch")
    eager = trace_model(model, inputs, sites=sites)
    (mul,) = lazy.of(Op.MUL)
    assert mul.source is not None and mul.source.line == line_of("x = x * 2.0")
    assert [(n.name, n.source) for n in lazy.nodes] == [(n.name, n.source) for n in eager.nodes]
