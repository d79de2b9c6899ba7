"""Choosing a tracer: any ``nn.Module`` plus example inputs -> :class:`modelcheck.ir.Graph`.

    graph = trace_model(model, inputs, sites=sites)          # fx, else export, else hooks
    graph = trace_model(model, inputs, prefer="hooks")       # one tracer only

Tracers, tried in order (``graph.tracer`` says which one won, ``graph.notes`` why others failed):

* ``fx`` — ``torch.fx`` symbolic tracing with the atomic layers as leaves (``trace/fx.py``);
* ``export`` — ``torch.export.export(strict=False)``, aten graph lowered (``trace/export.py``);
* ``hooks`` — an eager forward with module hooks and a ``TorchFunctionMode`` (``trace/hooks.py``).

All three lower through one :class:`~modelcheck.trace.lower.Builder`, so they produce the same IR
at the same granularity. A stack of identical blocks (a Llama's 80 decoder layers) is traced with its
first three and the rest replayed (``trace/repeat.py``), else in full. Tracing runs the model in training mode under ``no_grad``; module modes,
buffers (BatchNorm running stats), the CPU RNG and a transformers config's ``use_cache`` are
restored afterwards.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Mapping

import torch
from torch import nn

from modelcheck import capture
from modelcheck.errors import TraceError, UsageError
from modelcheck.frames import from_traceback, short
from modelcheck.ir import Graph, SourceLoc
from modelcheck.trace import repeat
from modelcheck.trace.lower import Builder

__all__ = ["TRACERS", "trace_model"]

TRACERS = ("fx", "export", "hooks")
_LABEL = {"fx": "torch.fx", "export": "torch.export", "hooks": "forward hooks"}


def _runner(name: str) -> Callable[[nn.Module, Any, Builder], None]:
    if name == "fx":
        from modelcheck.trace.fx import trace
    elif name == "export":
        from modelcheck.trace.export import trace
    else:
        from modelcheck.trace.hooks import trace
    return trace


def trace_model(model: nn.Module, inputs: tuple[Any, ...] | None, *, sites: Mapping[int, SourceLoc] | None = None,
                prefer: str | None = None, measure: capture.Measurement | None = None) -> Graph:
    """Trace ``model(*inputs)`` into the IR; ``prefer`` forces one tracer ("fx" | "export" | "hooks").

    ``measure`` (issue 11) takes its forward statistics from fx's live lowering when fx traces the whole
    model (not a truncated stack of blocks): that lowering is a real forward, in training mode like the
    rest of the trace. Left empty by any other tracer, or when fx fails or is not used."""
    if prefer is not None and prefer not in TRACERS:
        raise UsageError(f"unknown tracer {prefer!r}", hint=f"use one of {', '.join(TRACERS)}")
    order = (prefer,) if prefer else TRACERS
    inputs = tuple(inputs) if inputs is not None else None
    failures: list[tuple[str, str]] = []
    won: tuple[str, Builder] | None = None
    found = repeat.stacks(model) if inputs is not None else ()  # before _prepared: the modes as built
    with _prepared(model) as (training, flags):
        for name in order:
            if inputs is None and name != "fx":
                failures.append((name, "needs example inputs"))
                continue
            if found:
                builder = Builder(model, tracer=name, sites=sites, training=flags)
                if _run_repeated(name, model, inputs, builder, found):
                    won = name, builder
                    break
            builder = Builder(model, tracer=name, sites=sites, training=flags)
            try:
                _run(name, model, inputs, builder, measure)
            except Exception as exc:  # any tracer failure is a reason to try the next one
                failures.append((name, _reason(name, exc)))
                continue
            won = name, builder
            break
    if won is not None:  # assembled after the model is restored: graph tensors are the model's own
        name, builder = won
        notes = [f"{_LABEL[n]}: {why}; used {_LABEL[name]}" for n, why in failures]
        if inputs is None:
            notes.append("no example inputs: traced symbolically, without shapes")
        return builder.graph(notes, training=training)
    detail = "; ".join(f"{_LABEL[n]}: {why}" for n, why in failures)
    raise TraceError(f"no tracer could follow {type(model).__name__}.forward ({detail})",
                     hint="check that the forward runs on the example inputs, or pick one with --tracer")


def _run(name: str, model: nn.Module, inputs: tuple[Any, ...] | None, builder: Builder,
         measure: capture.Measurement | None = None) -> None:
    with torch.no_grad() if name != "export" else contextlib.nullcontext():
        if name == "fx" and measure is not None:
            from modelcheck.trace.fx import trace

            trace(model, inputs, builder, measure)
        else:
            _runner(name)(model, inputs, builder)


def _run_repeated(name: str, model: nn.Module, inputs: tuple[Any, ...] | None, builder: Builder,
                  found: tuple[repeat.Stack, ...]) -> bool:
    """Trace with each stack of identical blocks cut to its first three and replay the rest
    (``trace/repeat.py``); False when that does not work out and the whole model is traced."""
    try:
        with repeat.truncated(found):
            _run(name, model, inputs, builder)
        return repeat.expand(builder, found)
    except Exception:  # the forward needs all its blocks (indexes past the third, ...)
        return False


@contextlib.contextmanager
def _prepared(model: nn.Module) -> Iterator[tuple[bool, dict[int, bool]]]:
    """Training mode for the trace; modes, buffers, RNG and HF ``use_cache`` restored afterwards."""
    training = model.training
    flags = {id(m): m.training for m in model.modules()}
    # Attributes as they were (fx may store Proxies or constants on modules, forwards reassign
    # buffers), and buffer values (BatchNorm running stats are updated in place).
    state = [(m, dict(m.__dict__), dict(m._parameters), dict(m._buffers), dict(m._modules))
             for m in model.modules() if isinstance(m.__dict__.get("_parameters"), dict)]
    saved = [(b, b.detach().clone()) for _, _, _, bufs, _ in state for b in bufs.values() if b is not None]
    config = getattr(model, "config", None)
    use_cache = getattr(config, "use_cache", None)
    with torch.random.fork_rng(devices=[]), _no_fused_fast_path():
        try:
            if use_cache:
                config.use_cache = False  # caches are not tensors export can return, nor part of the model
            model.train()
            yield training, flags
        finally:
            if use_cache:
                config.use_cache = use_cache
            for m, attrs, params, bufs, mods in state:
                for d, old in ((m.__dict__, attrs), (m._parameters, params), (m._buffers, bufs), (m._modules, mods)):
                    if d.keys() != old.keys() or any(d[k] is not v for k, v in old.items()):
                        d.clear()
                        d.update(old)
            with torch.no_grad():
                for b, copy in saved:
                    if not b.is_meta:
                        b.copy_(copy)


@contextlib.contextmanager
def _no_fused_fast_path() -> Iterator[None]:
    """nn.TransformerEncoderLayer and MultiheadAttention branch on tensor properties (``src.dim()``)
    to pick a fused inference kernel; fx cannot follow those branches, and analysis wants the
    decomposed ops anyway. With the fast path off their forward is plain ops, as in training."""
    mha = getattr(torch.backends, "mha", None)
    get, set_ = getattr(mha, "get_fastpath_enabled", None), getattr(mha, "set_fastpath_enabled", None)
    if get is None or set_ is None:
        yield
        return
    before = get()
    set_(False)
    try:
        yield
    finally:
        set_(before)


_REASONS = (
    ("symbolically traced variables cannot be used as inputs to control flow", "data-dependent control flow"),
    ("Proxy object cannot be iterated", "iteration over a traced tensor"),
    ("'Proxy' has no len()", "len() of a traced tensor"),
    ("data-dependent", "data-dependent control flow or values"),
    ("GuardOnDataDependentSymNode", "data-dependent control flow"),
    ("numpy", "a numpy round-trip"),
    ("__array", "a numpy round-trip"),
)


def _reason(tracer: str, exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    why = next((label for key, label in _REASONS if key in text[:2000]), None)
    if why is None:
        why = f"{type(exc).__name__}: {first[:120]}" if first else type(exc).__name__
    loc = from_traceback(exc.__traceback__)
    return f"{why} at {short(loc)}" if loc else why
