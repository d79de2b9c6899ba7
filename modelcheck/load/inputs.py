"""Example inputs for a model (SPEC §1), first match wins:

1. a method ``example_inputs(self)`` on the model;
2. a module-level function ``example_inputs()`` in the file;
3. shapes from the command line (``--input-shape``) or ``[tool.modelcheck.models.NAME] input-shapes``;
4. inferred from the first layer (``Linear(in)`` -> ``(B, in)``, ``Conv2d(C)`` -> ``(B, C, 32, 32)``,
   ``Embedding(V)`` -> ids ``(B, T)``, ...), checked with one forward pass, and said so.

Explicit inputs that make the forward raise are the user's to fix (``InputError``/``ForwardError``);
an inferred guess that fails is only a note, and the model is then linted without inputs.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn

from modelcheck import capture
from modelcheck.config.settings import InputSpec
from modelcheck.errors import ForwardError, InputError
from modelcheck.frames import where_raised
from modelcheck.load import dtypes
from modelcheck.load.build import one_line
from modelcheck.load.signature import Sizes, by_role, plan_signature, spatial_size, token_count

BATCH = 4
TOKENS = 16
SPATIAL = 32
MAX_GUESSES = 3

# RuntimeError texts that mean "these inputs do not fit this model" rather than "the forward is broken".
_SHAPE_ERRORS = re.compile(
    r"shape|size mismatch|sizes? of tensor|dimension|expected (?:input|.*to have)|mat1 and mat2|"
    r"must match|groups=|channels|scalar type|dtype|index out of range|Long, Int|non-empty",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Inputs:
    tensors: tuple[Any, ...] | None  # None: no inputs found (structural rules only)
    source: str  # where they came from, for ModelReport.input_source
    note: str | None = None  # why there are none, or what the guess was based on
    unchecked_hint: str | None = None  # given, not yet run: :func:`diagnose` after a failed trace


def describe(inputs: Sequence[Any], *, dtype: bool = False) -> str:
    """``(8, 64)``; ``(8, 64), int64 (8, 32)`` for several; non-tensors by type. ``dtype``: float32 too."""
    parts = []
    for t in inputs:
        if isinstance(t, torch.Tensor):
            dims = "(" + ", ".join(map(str, t.shape)) + ("," if t.dim() == 1 else "") + ")"
            name = str(t.dtype).removeprefix("torch.")
            parts.append(dims if name == "float32" and not dtype else f"{name} {dims}")
        else:
            parts.append(type(t).__name__)
    return ", ".join(parts)


def resolve(
    model: nn.Module,
    module: ModuleType,
    name: str,
    specs: Sequence[InputSpec],
    *,
    meta: bool,
    roots: tuple[Path, ...],
    observe: capture.Observation | None = None,
    measure: capture.Measurement | None = None,
    sizes: Sizes | None = None,
) -> Inputs:
    """Find example inputs for ``model`` and check that the forward pass accepts them (taking
    ``observe``'s statistics on the way, and ``measure``'s when that forward runs). Without explicit
    ones: one input per required parameter of ``forward`` (:mod:`modelcheck.load.signature`), sized
    by ``sizes``."""
    explicit = _explicit(model, module, specs)
    if explicit is not None:
        tensors, source, hint = explicit
        tensors = _to_device(tensors, meta)
        if meta:  # the meta device takes int ids into a float layer without a word: "Lipschitz bound 0"
            check_dtypes(model, tensors, hint, roots)
        # The trace runs them anyway (fx's lowering measures that forward): a separate check only costs
        # a forward, paid only for its backward gain in a model the size rule calls cheap.
        if observe is None and (measure is None or not measure.backward):
            return Inputs(tensors, source, unchecked_hint=hint)
        forward(model, tensors, source, hint, roots, observe, measure)
        return Inputs(tensors, source)
    failures: list[str] = []
    sizes = sizes if sizes is not None else Sizes()
    spatial, tokens = spatial_size(model, sizes, SPATIAL), token_count(sizes, TOKENS)
    for tensors, source in _by_signature(model, sizes, spatial, tokens):
        tensors = _to_device(tensors, meta)
        retyped: set[int] = set()
        for _ in range(len(tensors) + 1):  # an input of the wrong dtype is redrawn in the layer's, once each
            try:
                forward(model, tensors, source, "", roots, observe, measure)
            except dtypes.DtypeError as exc:
                failures.append(exc.message)
                i = exc.mismatch.index
                if i in retyped or not isinstance(tensors[i], torch.Tensor):
                    break
                retyped.add(i)
                tensors = (*tensors[:i], dtypes.retyped(tensors[i], exc.mismatch), *tensors[i + 1:])
                source = _retyped_source(model, tensors, retyped)
            except InputError as exc:  # a wrong guess: try the next one
                failures.append(exc.message)
                break
            else:  # a ForwardError (NameError, NotImplementedError, ...) is the forward's own bug: it propagates
                return Inputs(tensors, source)
    why = failures[0] if failures else "no example_inputs() and no first layer to infer a shape from"
    return Inputs(
        None,
        "none",
        f"no example inputs: {why}; add an example_inputs() method or function, or pass --input-shape",
    )


def _explicit(
    model: nn.Module, module: ModuleType, specs: Sequence[InputSpec]
) -> tuple[tuple[Any, ...], str, str] | None:
    method = getattr(type(model), "example_inputs", None)
    if callable(method):
        return _call(lambda: model.example_inputs(), "example_inputs() method"), "example_inputs() method", "fix example_inputs()"
    fn = getattr(module, "example_inputs", None)
    if callable(fn):
        return _call(fn, "example_inputs() in file"), "example_inputs() in file", "fix example_inputs() or give the model its own example_inputs(self)"
    if specs:
        text = " ".join(str(s) for s in specs)
        return _synthesize(model, specs), f"configured input shapes {text}", "fix --input-shape or input-shapes in the config"
    return None


def _call(fn: Callable[[], Any], what: str) -> tuple[Any, ...]:
    torch.manual_seed(0)
    try:
        out = fn()
    except Exception as exc:
        raise InputError(f"{what} raised {one_line(exc)}", hint="fix example_inputs()") from exc
    if isinstance(out, torch.Tensor):
        return (out,)
    if isinstance(out, (tuple, list)):
        return tuple(out)
    raise InputError(
        f"{what} returned {type(out).__name__}",
        hint="return a tuple of tensors, the positional arguments of forward",
    )


def _synthesize(model: nn.Module, specs: Sequence[InputSpec]) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(0)
    vocab = next((m.num_embeddings for m in model.modules() if isinstance(m, nn.Embedding)), 2)
    out = []
    for s in specs:
        dtype = getattr(torch, s.dtype)
        if s.dtype == "bool":
            out.append(torch.randint(0, 2, s.shape).bool())
        elif dtype.is_floating_point:
            out.append(torch.randn(s.shape, dtype=dtype))
        else:
            out.append(torch.randint(0, vocab, s.shape, dtype=dtype))
    return tuple(out)


def _to_device(tensors: tuple[Any, ...], meta: bool) -> tuple[Any, ...]:
    if not meta:
        return tensors
    return tuple(t.to("meta") if isinstance(t, torch.Tensor) else t for t in tensors)


def check_signature(cls: Any) -> None:
    """Before a full-size build: ``InputError`` when ``cls.forward`` has inputs nothing can feed
    (no ``example_inputs``, more than one data input)."""
    if isinstance(cls, type) and issubclass(cls, nn.Module) and not callable(getattr(cls, "example_inputs", None)):
        plan_signature(cls)


def _by_signature(
    model: nn.Module, sizes: Sizes, spatial: int, tokens: int
) -> Iterator[tuple[tuple[torch.Tensor, ...], str]]:
    """One input per required parameter of ``forward``: named roles (timesteps, labels, token ids)
    by name, the data input from the first layers' guesses."""
    plan = plan_signature(model) or [("x", "data")]
    has_embedding = any(isinstance(m, (nn.Embedding, nn.EmbeddingBag)) for m in model.modules())
    if len(plan) == 1 or not has_embedding:  # one input (or no ids to draw): the first layers say what it is
        plan = [(n, "data" if r == "tokens" or len(plan) == 1 else r) for n, r in plan]
    named = {n: by_role(r, BATCH, tokens, sizes, model) for n, r in plan if r != "data"}
    data = [n for n, r in plan if r == "data"]
    guesses = _guesses(model, spatial, tokens) if data else iter([((), "")])
    for guess, source in guesses:
        if data and len(guess) != 1 and len(plan) > 1:
            continue
        if len(plan) == 1 and data:
            tensors = guess
        else:
            it = iter(guess)
            tensors = tuple(next(it) if r == "data" else named[n] for n, r in plan)
        if len(plan) > 1 or not data:
            roles = ", ".join(f"{n} {describe((t,))}" for (n, _), t in zip(plan, tensors))
            source = f"from forward's signature: {roles}" + (f" ({source.split(': ')[0]})" if data else "")
        yield tensors, source


def _guesses(model: nn.Module, spatial: int, tokens: int) -> Iterator[tuple[tuple[torch.Tensor, ...], str]]:
    """Inputs that the first few input-bearing layers (in registration order) would accept."""
    tried: set[str] = set()
    for path, m in model.named_modules():
        guess = _guess(m, spatial, tokens)
        if guess is None:
            continue
        key = describe(guess)
        if key in tried:
            continue
        tried.add(key)
        label = path or "(the model itself)"
        yield guess, f"inferred from first layer {label} ({_layer_text(m)}): {key}"
        if len(tried) >= MAX_GUESSES:
            return


def _layer_text(m: nn.Module) -> str:
    extra = m.extra_repr()
    return f"{type(m).__name__}({extra[:60] + '...' if len(extra) > 60 else extra})"


def _guess(m: nn.Module, spatial: int, tokens: int) -> tuple[torch.Tensor, ...] | None:
    torch.manual_seed(0)
    B, T, S = BATCH, tokens, spatial
    if isinstance(m, nn.Linear) and m.in_features > 0:
        return (torch.randn(B, m.in_features),)
    if isinstance(m, nn.Bilinear):
        return torch.randn(B, m.in1_features), torch.randn(B, m.in2_features)
    convs = {1: (nn.Conv1d, nn.ConvTranspose1d), 2: (nn.Conv2d, nn.ConvTranspose2d), 3: (nn.Conv3d, nn.ConvTranspose3d)}
    for dims, types in convs.items():
        if isinstance(m, types) and m.in_channels > 0:
            return (torch.randn(B, m.in_channels, *([S] * dims)),)
    if isinstance(m, (nn.Embedding, nn.EmbeddingBag)):
        return (torch.randint(0, m.num_embeddings, (B, T)),)
    if isinstance(m, nn.RNNBase):
        return (torch.randn(B, T, m.input_size) if m.batch_first else torch.randn(T, B, m.input_size),)
    if isinstance(m, nn.MultiheadAttention):
        return (torch.randn(B, T, m.embed_dim) if m.batch_first else torch.randn(T, B, m.embed_dim),)
    if isinstance(m, nn.LayerNorm):
        return (torch.randn(B, *m.normalized_shape),)
    norms = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
    for dims, t in norms.items():
        if isinstance(m, t) and m.num_features > 0:
            return (torch.randn(B, m.num_features, *([S] * (dims - 1))),)
    return None


def _retyped_source(model: nn.Module, tensors: tuple[Any, ...], retyped: set[int]) -> str:
    """The source of signature inputs of which those at ``retyped`` were redrawn in their layer's dtype."""
    names = [dtypes.parameter_name(model, j) for j in range(len(tensors))]
    roles = ", ".join(f"{n} {describe((t,))}" for n, t in zip(names, tensors))
    again = ", ".join(names[j] for j in sorted(retyped))
    return f"from forward's signature: {roles} ({again} in the dtype of the first layer taking it)"


def check_dtypes(model: nn.Module, inputs: tuple[Any, ...], hint: str, roots: tuple[Path, ...]) -> None:
    """On the meta device, where nothing else would say it: raise the :class:`dtypes.DtypeError` of an
    input the model cannot take. Any other failure is left to the trace."""
    try:
        with torch.no_grad(), capture.checking_mode(model), dtypes.watching(model, inputs, until_all_seen=True):
            model(*inputs)
    except Exception as exc:
        where = where_raised(exc.__traceback__, roots)
        _raise_mismatch(model, inputs, exc, f" at {where}" if where else "", hint)


def _raise_mismatch(model: nn.Module, inputs: tuple[Any, ...], exc: BaseException, at: str, hint: str) -> None:
    found = dtypes.stopped(exc)
    if found is not None:
        text = dtypes.message(model, found, describe(inputs[found.index:found.index + 1], dtype=True), at)
        raise dtypes.DtypeError(text, hint=hint, mismatch=found) from exc


def diagnose(model: nn.Module, found: Inputs, roots: tuple[Path, ...]) -> None:
    """After no tracer could follow the forward: if inputs were never checked, run them once so a
    failing forward gets its one-line error (file:line, input or forward error) rather than the
    tracers' reasons."""
    if found.tensors is not None and found.unchecked_hint is not None:
        forward(model, found.tensors, found.source, found.unchecked_hint, roots)


def forward(model: nn.Module, inputs: tuple[Any, ...], source: str, hint: str, roots: tuple[Path, ...],
            observe: capture.Observation | None = None, measure: capture.Measurement | None = None) -> None:
    """Run ``model(*inputs)`` once (no grad, buffers restored, :func:`capture.checking_mode`); raise a
    one-line error if it fails. ``observe`` and ``measure`` take their statistics on the way."""
    saved = {k: b.detach().clone() for k, b in model.named_buffers()}
    torch.manual_seed(0)
    if observe is not None:
        observe.values = None
    watch = (capture.observing(model, observe.paths, observe.fn, observe.combine) if observe is not None
             else contextlib.nullcontext({}))
    seen = (capture.measuring(model, inputs, measure) if measure is not None
            else contextlib.nullcontext(lambda: model(*inputs)))
    try:
        with (torch.no_grad(), capture.checking_mode(model) as plain_eval, watch as got, seen as run,
              dtypes.watching(model, inputs)):
            run()
        if observe is not None and plain_eval:
            observe.values = {k: v for k, v in got.items() if v is not None}
    except Exception as exc:
        where = where_raised(exc.__traceback__, roots)
        at = f" at {where}" if where else ""
        _raise_mismatch(model, inputs, exc, at, hint or f"inputs {source}; pass --input-shape")
        what = f"forward failed with inputs of shape {describe(inputs)}{at}: {one_line(exc)}"
        if isinstance(exc, NotImplementedError):
            raise ForwardError(what, hint="the model's forward is not implemented: is this an abstract base class?") from exc
        if _SHAPE_ERRORS.search(str(exc)):
            raise InputError(what, hint=hint or f"inputs {source}; pass --input-shape") from exc
        raise ForwardError(what, hint="check the forward with the example inputs") from exc
    finally:
        with torch.no_grad():
            for k, b in model.named_buffers():
                if k in saved:
                    b.copy_(saved[k])
