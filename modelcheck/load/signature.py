"""Example inputs from ``forward``'s signature and the sizes the model and its config declare.

One input per required positional parameter of ``forward``, by name: ``t``/``timesteps``/``sigma`` are
float ``(B,)``; ``y``/``labels``/``class_labels`` are int64 ``(B,)`` below the number of classes;
``idx``/``tokens``/``input_ids`` are int64 ``(B, T)`` below the vocabulary size; the others (images,
features, audio) come from the first layer. ``T`` never exceeds the block size the config declares
(``block_size``, ``max_seq_len``, ``n_ctx``, ``context_length``); images take the declared
``image_size``/``img_size``/``input_size``, else 224x224 for a network with a patch embedding or 32x
downsampling, else 32x32.

:func:`plan_signature` runs on the model built on the meta device, before the full-size build: a
forward whose parameters cannot all be fed is an error naming the parameter, found without building
675M parameters first.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Iterable

import torch
from torch import nn

from modelcheck.errors import InputError

TIME_NAMES = frozenset({"t", "time", "times", "timestep", "timesteps", "sigma", "sigmas", "noise_level", "ts"})
LABEL_NAMES = frozenset({"y", "label", "labels", "class_labels", "class_label", "classes", "cls"})
TOKEN_NAMES = frozenset({"idx", "tokens", "input_ids", "text", "ids", "token_ids"})
_LIMIT_KEYS = ("block_size", "max_seq_len", "n_ctx", "context_length", "max_position_embeddings", "seq_len", "max_len")
_IMAGE_KEYS = ("image_size", "img_size", "input_size", "resolution")
_CHANNEL_KEYS = ("in_chans", "in_channels", "num_channels")
_CLASS_KEYS = ("num_classes", "n_classes", "nb_classes", "class_num")
_VOCAB_KEYS = ("vocab_size", "n_vocab", "num_tokens")
_CONFIG_ATTRS = ("config", "cfg", "args", "params", "hparams", "model_args")
LARGE_IMAGE = 224
DOWNSAMPLING_FOR_LARGE = 32


@dataclass(frozen=True)
class Sizes:
    """What the model and its config say about the inputs (None: not declared)."""

    seq_limit: int | None = None
    image: int | None = None
    channels: int | None = None
    classes: int | None = None
    vocab: int | None = None


def declared_sizes(model: nn.Module, extra: Iterable[Any] = ()) -> Sizes:
    """Read the size attributes of the model, of its config objects and of ``extra`` (the built
    config arguments), the model's own first."""
    sources = [model, *(getattr(model, a, None) for a in _CONFIG_ATTRS), *extra]
    sources = [s for s in sources if s is not None and not isinstance(s, (int, float, str, bool))]

    def first(keys: tuple[str, ...]) -> int | None:
        for src in sources:
            for k in keys:
                v = src.get(k) if isinstance(src, dict) else getattr(src, k, None)
                if isinstance(v, (tuple, list)) and v and all(isinstance(i, int) for i in v):
                    v = v[-1]
                if isinstance(v, int) and not isinstance(v, bool) and v > 0:
                    return v
        return None

    return Sizes(first(_LIMIT_KEYS), first(_IMAGE_KEYS), first(_CHANNEL_KEYS), first(_CLASS_KEYS), first(_VOCAB_KEYS))


def spatial_size(model: nn.Module, sizes: Sizes, default: int) -> int:
    """The declared image size, else 224 for a patch-embedding stem or 32x downsampling, else ``default``."""
    if sizes.image is not None:
        return sizes.image
    stride_product = 1
    first = True
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            s = m.stride if isinstance(m.stride, int) else m.stride[0]
            s = s if s is not None else (m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0])
            if first and isinstance(m, nn.Conv2d) and s >= 4:
                return LARGE_IMAGE  # a patch embedding: 32x32 would leave a handful of patches
            first = first and not isinstance(m, nn.Conv2d)
            stride_product *= max(int(s), 1)
    return LARGE_IMAGE if stride_product >= DOWNSAMPLING_FOR_LARGE else default


def token_count(sizes: Sizes, default: int) -> int:
    return min(default, sizes.seq_limit) if sizes.seq_limit else default


def forward_parameters(model: nn.Module | type) -> list[inspect.Parameter]:
    """The required positional parameters of ``forward`` of a model or a model class (``self`` excluded)."""
    try:
        sig = inspect.signature(model.forward)
    except (TypeError, ValueError):
        return []
    params = [
        p for p in sig.parameters.values()
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return params[1:] if isinstance(model, type) else params


def role(p: inspect.Parameter) -> str:
    """"time", "label", "tokens" or "data" (fed from the first layer)."""
    name = p.name.lower()
    if name in TIME_NAMES:
        return "time"
    if name in LABEL_NAMES:
        return "label"
    if name in TOKEN_NAMES:
        return "tokens"
    return "data"


def plan_signature(model: nn.Module | type) -> list[tuple[str, str]]:
    """(parameter, role) for each required input, checked on the (meta) model: raises ``InputError``
    naming a parameter that cannot be fed (a second data input nothing says the shape of)."""
    params = forward_parameters(model)
    plan = [(p.name, role(p)) for p in params]
    data = [n for n, r in plan if r == "data"]
    if len(data) > 1:
        raise InputError(
            f"forward({', '.join(n for n, _ in plan)}) needs inputs {', '.join(data[1:])} that nothing says the shape of",
            hint="add an example_inputs() method or function, or pass one --input-shape per input",
        )
    return plan


def by_role(role_name: str, batch: int, tokens: int, sizes: Sizes, model: nn.Module) -> torch.Tensor:
    """The input of a named role (not "data")."""
    if role_name == "time":
        return torch.rand(batch)
    if role_name == "label":
        n = sizes.classes or _embedding_rows(model, ("label", "class", "y_")) or 2
        return torch.randint(0, n, (batch,))
    vocab = sizes.vocab or _embedding_rows(model, ()) or 2
    return torch.randint(0, vocab, (batch, tokens))


def _embedding_rows(model: nn.Module, hints: tuple[str, ...]) -> int | None:
    for path, m in model.named_modules():
        if isinstance(m, nn.Embedding) and (not hints or any(h in path.lower() for h in hints)):
            return int(m.num_embeddings)
    return None
