"""Inputs of a dtype the model cannot take (int ids into a float layer, floats into an embedding).

torch's own message ("mat1 and mat2 must have the same dtype") names neither the input nor the layer,
and on the meta device there is no message at all: the trace goes through and the report reads
"Lipschitz bound 0". While the check's forward runs, a pre-hook on the stock layers that take only one
kind of input stops at the first input that reaches one with the wrong dtype, so the error names the
``forward`` parameter and the layer.
"""

from __future__ import annotations

import inspect
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, Iterator, Sequence

import torch
from torch import nn

from modelcheck.errors import InputError

# Layers whose stock forward takes floating inputs only; an Embedding takes integer ids only.
_FLOAT_LAYERS: tuple[type[nn.Module], ...] = (
    nn.Linear, nn.Bilinear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
    nn.ConvTranspose3d, nn.LayerNorm, nn.GroupNorm, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d,
    nn.RNNBase, nn.MultiheadAttention,
)
_ID_LAYERS: tuple[type[nn.Module], ...] = (nn.Embedding, nn.EmbeddingBag)
# How many leading positional arguments are data (the rest: masks, offsets, per-sample weights, states).
_DATA_ARGS: dict[type[nn.Module] | None, int] = {nn.Bilinear: 2, nn.MultiheadAttention: 3}


@dataclass(frozen=True)
class Mismatch:
    """Input ``index`` reached ``layer`` (a ``kind``) that takes ``takes``."""

    index: int
    layer: str
    kind: str
    takes: str  # "float" or "integer ids"
    rows: int | None  # an embedding's number of rows: ids below it fit


class DtypeError(InputError):
    """An :class:`InputError` that knows which input and which layer (planned inputs are retyped)."""

    def __init__(self, message: str, *, hint: str | None = None, mismatch: Mismatch) -> None:
        super().__init__(message, hint=hint)
        self.mismatch = mismatch


class _Stop(Exception):
    def __init__(self, mismatch: Mismatch | None) -> None:
        super().__init__(mismatch.layer if mismatch is not None else "every input reached its first layer")
        self.mismatch = mismatch


def _stock(m: nn.Module, bases: tuple[type[nn.Module], ...]) -> type[nn.Module] | None:
    """The stock layer class ``m`` is, when its forward is that class's own (a subclass that casts is not)."""
    for base in bases:
        if isinstance(m, base) and type(m).forward is base.forward:
            return base
    return None


def _takes(m: nn.Module) -> str | None:
    if _stock(m, _ID_LAYERS) is not None:
        return "integer ids"
    if _stock(m, _FLOAT_LAYERS) is not None and any(p.is_floating_point() for p in m.parameters(recurse=False)):
        return "float"
    return None


def _fits(t: torch.Tensor, takes: str) -> bool:
    floating = t.is_floating_point() or t.is_complex()
    return floating if takes == "float" else not floating


def _which(arg: torch.Tensor, inputs: Sequence[Any], takes: str) -> int | None:
    """The input ``arg`` is: that very tensor, else the only input of its dtype family."""
    for i, t in enumerate(inputs):
        if t is arg:
            return i
    alike = [i for i, t in enumerate(inputs) if isinstance(t, torch.Tensor) and not _fits(t, takes)]
    return alike[0] if len(alike) == 1 else None


@contextmanager
def watching(model: nn.Module, inputs: Sequence[Any], *, until_all_seen: bool = False) -> Iterator[None]:
    """Within: the first input reaching a layer of the wrong dtype raises :class:`_Stop` (see
    :func:`stopped`). ``until_all_seen``: the forward also stops (``_Stop`` without a mismatch) once
    every input tensor has reached a layer, when only the dtypes are wanted (a 70B model on meta)."""
    tensors = {id(t) for t in inputs if isinstance(t, torch.Tensor)}
    if not tensors:
        yield
        return
    names = {id(m): path for path, m in model.named_modules()}
    handles = []
    seen: set[int] = set()

    def hook(takes: str, data: int, m: nn.Module, args: tuple[Any, ...]) -> None:
        for a in args[:data]:  # not masks, offsets, weights
            if isinstance(a, torch.Tensor) and not _fits(a, takes):
                i = _which(a, inputs, takes)
                if i is not None:
                    rows = getattr(m, "num_embeddings", None) if takes == "integer ids" else None
                    raise _Stop(Mismatch(i, names.get(id(m), "?") or "(the model itself)", type(m).__name__, takes, rows))
        if until_all_seen:
            seen.update(id(a) for a in args if id(a) in tensors)
            if seen == tensors:
                raise _Stop(None)

    for m in model.modules():  # what each layer takes is decided once here, not on every call
        takes = _takes(m)
        if takes is not None:
            data = _DATA_ARGS.get(_stock(m, _FLOAT_LAYERS + _ID_LAYERS), 1)
            handles.append(m.register_forward_pre_hook(partial(hook, takes, data)))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def stopped(exc: BaseException) -> Mismatch | None:
    """The mismatch that ended a forward, if that is what ended it."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, _Stop):
            return cause.mismatch
        cause = cause.__cause__ or cause.__context__
    return None


def parameter_name(model: nn.Module, index: int) -> str:
    """The ``forward`` parameter that positional input ``index`` binds to (``args[2]`` for ``*args``)."""
    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        return f"#{index + 1}"
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if index < len(positional):
        return positional[index].name
    star = next((p for p in params if p.kind is p.VAR_POSITIONAL), None)
    return f"{star.name}[{index - len(positional)}]" if star is not None else f"#{index + 1}"


def message(model: nn.Module, mismatch: Mismatch, described: str, at: str) -> str:
    """``input `x` of `Net.forward` is int64 (4, 16) but the first layer `fc` (Linear) takes float``."""
    owner = f"{type(model).__name__}.forward"
    return (
        f"input `{parameter_name(model, mismatch.index)}` of `{owner}` is {described} but the first layer "
        f"`{mismatch.layer}` ({mismatch.kind}) takes {mismatch.takes}{at}"
    )


def retyped(t: torch.Tensor, mismatch: Mismatch) -> torch.Tensor:
    """``t`` redrawn in the dtype the layer takes (same shape): ids below its rows, or floats."""
    torch.manual_seed(0)
    if mismatch.takes == "float":
        return torch.randn(t.shape, device=t.device)
    return torch.randint(0, mismatch.rows or 2, t.shape, device=t.device)
