"""A 70B Llama (Llama-2-70B shapes) for ``--meta``: nothing is allocated, only shapes and init statistics."""

import torch
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM

CONFIG = {
    "hidden_size": 8192, "num_hidden_layers": 80, "intermediate_size": 28672, "num_attention_heads": 64,
    "num_key_value_heads": 8, "vocab_size": 32000, "max_position_embeddings": 4096,
}  # fmt: skip


def build() -> nn.Module:
    return LlamaForCausalLM(LlamaConfig(**CONFIG))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randint(0, 32000, (1, 16), generator=torch.Generator().manual_seed(0)),)
