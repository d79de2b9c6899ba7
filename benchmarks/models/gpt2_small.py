"""GPT-2 small (124M): transformers' GPT2LMHeadModel with the default GPT2Config, built offline."""

import torch
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel


def build() -> nn.Module:
    return GPT2LMHeadModel(GPT2Config())


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randint(0, 50257, (2, 128), generator=torch.Generator().manual_seed(0)),)
