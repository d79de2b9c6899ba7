"""Hugging Face models from tiny configs (no weights downloaded): fx cannot trace them, torch.export
can; the IR must show their layers, attention and residual joins, on CPU and on the meta device."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import torch

from modelcheck.ir import Graph, Op
from modelcheck.trace.tracers import trace_model

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

LAYERS = 2


def gpt2(impl: str) -> Any:
    cfg = transformers.GPT2Config(n_layer=LAYERS, n_embd=64, n_head=2, vocab_size=100, n_positions=32,
                                  attn_implementation=impl)
    return transformers.GPT2LMHeadModel(cfg)


def bert(impl: str) -> Any:
    cfg = transformers.BertConfig(num_hidden_layers=LAYERS, hidden_size=64, num_attention_heads=2,
                                  intermediate_size=128, vocab_size=100, max_position_embeddings=64,
                                  attn_implementation=impl)
    return transformers.BertModel(cfg)


def llama_config(impl: str = "sdpa") -> Any:
    return transformers.LlamaConfig(num_hidden_layers=LAYERS, hidden_size=64, intermediate_size=128,
                                    num_attention_heads=4, num_key_value_heads=2, vocab_size=100,
                                    max_position_embeddings=64, attn_implementation=impl)


def llama(impl: str) -> Any:
    return transformers.LlamaForCausalLM(llama_config(impl))


def _count(g: Graph, op: Op, module_type: str | None = None) -> int:
    return sum(1 for n in g.of(op) if module_type is None or n.module_type == module_type)


def _residuals(g: Graph, *owners: str) -> list[int]:
    """ADD nodes per layer whose owning module is one of ``owners`` (formatted with the layer index)."""
    return [sum(1 for n in g.of(Op.ADD) if n.module_path in {o.format(i) for o in owners}) for i in range(LAYERS)]


def check_gpt2(g: Graph, impl: str) -> None:
    assert _count(g, Op.OTHER, "Conv1D") == 4 * LAYERS  # c_attn, c_proj, c_fc, mlp.c_proj
    conv1d = next(n for n in g.of(Op.OTHER) if n.module_type == "Conv1D")
    assert conv1d.attrs["weight_layout"] == "in_out" and set(conv1d.params) == {"weight", "bias"}
    assert _count(g, Op.LINEAR) == 1 and g.of(Op.LINEAR)[0].params == {"weight": "transformer.wte.weight"}
    assert _count(g, Op.NORM) == 2 * LAYERS + 1 and all(n.attrs["kind"] == "layer" for n in g.of(Op.NORM))
    attention = Op.SOFTMAX if impl == "eager" else Op.ATTENTION
    assert _count(g, attention) == LAYERS
    assert [n.attrs["fn"] for n in g.of(Op.ACTIVATION)] == ["gelu_tanh"] * LAYERS
    assert _residuals(g, "transformer.h.{}") == [2] * LAYERS
    assert _count(g, Op.EMBEDDING) == 2


def check_bert(g: Graph, impl: str) -> None:
    assert _count(g, Op.LINEAR) == 6 * LAYERS + 1  # q, k, v, attn out, intermediate, output; pooler
    assert _count(g, Op.NORM) == 2 * LAYERS + 1
    assert _count(g, Op.SOFTMAX if impl == "eager" else Op.ATTENTION) == LAYERS
    assert _residuals(g, "encoder.layer.{}.attention.output", "encoder.layer.{}.output") == [2] * LAYERS
    assert _count(g, Op.EMBEDDING) == 3
    assert g.output is not None and g.output.inputs[0].module_path == "encoder.layer.1.output.LayerNorm"


def check_llama(g: Graph, impl: str) -> None:
    assert _count(g, Op.LINEAR) == 7 * LAYERS + 1
    norms = g.of(Op.NORM)
    assert len(norms) == 2 * LAYERS + 1
    assert all(n.attrs["kind"] == "rms" and n.module_type == "LlamaRMSNorm" for n in norms)
    assert _count(g, Op.SOFTMAX if impl == "eager" else Op.ATTENTION) == LAYERS
    assert [n.attrs["fn"] for n in g.of(Op.ACTIVATION)] == ["silu"] * LAYERS
    assert _residuals(g, "model.layers.{}") == [2] * LAYERS
    # The residual stream skips the norm: x + attn(norm(x)) reads the block input, not the norm.
    first = next(n for n in g.of(Op.ADD) if n.module_path == "model.layers.0")
    assert first.inputs[0].op is Op.EMBEDDING


CASES: list[tuple[Callable[[str], Any], str, Callable[[Graph, str], None]]] = [
    (gpt2, "eager", check_gpt2),
    (gpt2, "sdpa", check_gpt2),
    (bert, "sdpa", check_bert),
    (llama, "sdpa", check_llama),
]
SLOW_CASES = [(bert, "eager", check_bert), (llama, "eager", check_llama)]


def _run(factory: Callable[[str], Any], impl: str, check: Callable[[Graph, str], None]) -> None:
    torch.manual_seed(0)
    model = factory(impl)
    use_cache = getattr(model.config, "use_cache", None)
    g = trace_model(model, (torch.randint(0, 100, (2, 12)),))
    assert g.tracer == "export" and g.notes and g.notes[0].startswith("torch.fx:")
    assert model.config.use_cache == use_cache
    check(g, impl)


@pytest.mark.parametrize(("factory", "impl", "check"), CASES, ids=[f"{c[0].__name__}-{c[1]}" for c in CASES])
def test_hf_models(factory: Callable[[str], Any], impl: str, check: Callable[[Graph, str], None]) -> None:
    _run(factory, impl, check)


@pytest.mark.slow
@pytest.mark.parametrize(("factory", "impl", "check"), SLOW_CASES, ids=[f"{c[0].__name__}-{c[1]}" for c in SLOW_CASES])
def test_hf_models_eager_attention(factory: Callable[[str], Any], impl: str,
                                   check: Callable[[Graph, str], None]) -> None:
    _run(factory, impl, check)


def test_meta_llama() -> None:
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(llama_config())
    g = trace_model(model, (torch.zeros(2, 12, dtype=torch.long, device="meta"),))
    assert g.tracer == "export"
    check_llama(g, "sdpa")
    assert g.output is not None and g.output.meta is not None and g.output.meta.shape == (2, 12, 100)
