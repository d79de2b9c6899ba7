"""The structural rules on the measured corpus and on known-good architectures.

Corpus files must raise the structural codes their measured problem implies and nothing else at
warning or above; published architectures (transformers tiny configs, built offline) must raise
nothing at warning or above.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from structure_models import CORPUS, lint_model, load_file, loud, worst
from torch import nn

from modelcheck.diagnostics import Severity

pytest.importorskip("modelcheck.trace")

W, E = Severity.WARNING, Severity.ERROR

# corpus file -> structural codes expected at warning or above (exactly these)
CORPUS_CASES: dict[str, dict[str, Severity]] = {
    "deep_sigmoid_mlp.py": {"MC103": E},  # 20 sigmoid layers
    "deep_tanh_mlp_default_init.py": {"MC101": W, "MC103": E},  # 50 plain layers, chi = 1/3 each
    "relu_mlp_normal_init.py": {},  # an init problem (rule family MC3xx), 20 layers is not > 20
    "relu_mlp_xavier_init.py": {"MC101": W},  # 30 plain layers
    # 30 plain layers, but the predicted gradient across them stays within [0.1, 10]: an info (it trains)
    "relu_mlp_kaiming_init.py": {},
    "residual_mlp_no_norm.py": {"MC102": E},
    "residual_mlp_fixup.py": {},
    "residual_mlp_rezero.py": {},
    "residual_mlp_batchnorm.py": {},
    "plain_cnn_40_default_init.py": {"MC101": W},
    "vgg_style_bn_cnn.py": {},
    "preln_transformer_12.py": {},
    "postln_transformer_48.py": {"MC104": W},
    "lstm_sequence_model.py": {},
    "small_unet.py": {},
}


@pytest.mark.slow
@pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus not available")
@pytest.mark.parametrize("name", sorted(CORPUS_CASES))
def test_corpus(name: str) -> None:
    findings = lint_model(*load_file(CORPUS / name))
    assert loud(findings) == CORPUS_CASES[name], [f"{f.rule} {f.severity.value}: {f.message}" for f in findings]


def _hf(kind: str, attn: str | None, **overrides: Any) -> Callable[[], tuple[nn.Module, tuple[Any, ...]]]:
    def build() -> tuple[nn.Module, tuple[Any, ...]]:
        transformers = pytest.importorskip("transformers")
        specs: dict[str, tuple[str, str, dict[str, Any]]] = {
            "gpt2": ("GPT2Model", "GPT2Config", {"n_layer": 4, "n_embd": 64, "n_head": 4, "vocab_size": 128,
                                                 "n_positions": 64, "bos_token_id": 0, "eos_token_id": 0}),
            "bert": ("BertModel", "BertConfig", {"num_hidden_layers": 12, "hidden_size": 64,
                                                 "num_attention_heads": 4, "intermediate_size": 256,
                                                 "vocab_size": 128, "max_position_embeddings": 64}),
            "llama": ("LlamaModel", "LlamaConfig", {"num_hidden_layers": 4, "hidden_size": 64,
                                                    "num_attention_heads": 4, "num_key_value_heads": 2,
                                                    "intermediate_size": 128, "vocab_size": 128,
                                                    "max_position_embeddings": 64}),
            "vit": ("ViTModel", "ViTConfig", {"num_hidden_layers": 4, "hidden_size": 64, "num_attention_heads": 4,
                                              "intermediate_size": 128, "image_size": 32, "patch_size": 8}),
            "t5": ("T5EncoderModel", "T5Config", {"num_layers": 4, "d_model": 64, "d_kv": 16, "d_ff": 128,
                                                  "num_heads": 4, "vocab_size": 128}),
        }
        model_cls, config_cls, kwargs = specs[kind]
        kwargs = {**kwargs, **overrides}
        if attn is not None:
            kwargs["attn_implementation"] = attn
        torch.manual_seed(0)
        model = getattr(transformers, model_cls)(getattr(transformers, config_cls)(**kwargs))
        x = torch.randn(2, 3, 32, 32) if kind == "vit" else torch.randint(0, 128, (2, 16))
        return model, (x,)

    return build


ZOO = {
    f"{kind}-{attn or 'default'}": _hf(kind, attn)
    for kind in ("gpt2", "bert", "llama", "vit", "t5")
    for attn in ("eager", None)
}
ZOO["bert-large-24-eager"] = _hf("bert", "eager", num_hidden_layers=24)
ZOO["gpt2-24-default"] = _hf("gpt2", None, n_layer=24)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ZOO))
def test_known_good_transformers_are_not_flagged(name: str) -> None:
    findings = lint_model(*ZOO[name]())
    assert loud(findings) == {}, [f"{f.rule} {f.severity.value}: {f.message}" for f in findings]
    if name.startswith("bert-large"):  # 24 post-LN layers: "needs warmup", at most info
        assert worst(findings).get("MC104") is Severity.INFO
