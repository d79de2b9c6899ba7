"""Running the user's model at the example input without side effects, for the passes that need real
activations (norm row statistics for Lipschitz, module inputs for local Jacobians).

Every run restores the per-module ``training`` flags and, in training mode, the buffers (BatchNorm
running statistics), so analysis never changes the model it reports on.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping

import torch
from torch import nn


@contextlib.contextmanager
def mode(model: nn.Module, training: bool) -> Iterator[nn.Module]:
    """Put every submodule in train/eval mode for the block; restore flags (and buffers) after."""
    flags = {m: m.training for m in model.modules()}
    saved = {k: b.detach().clone() for k, b in model.named_buffers() if not b.is_meta} if training else {}
    model.train(training)
    try:
        yield model
    finally:
        for m, f in flags.items():
            m.training = f
        if saved:
            with torch.no_grad():
                for k, b in model.named_buffers():
                    if k in saved and b.shape == saved[k].shape:
                        b.copy_(saved[k])


def call(model: nn.Module, inputs: Iterable[Any]) -> Any:
    args = tuple(inputs)
    if len(args) == 1 and isinstance(args[0], Mapping):
        return model(**args[0])
    return model(*args)


def first_float(out: Any) -> torch.Tensor | None:
    """The primary output tensor (SPEC §2): a tensor, ``last_hidden_state``/``logits``, or the first float."""
    if isinstance(out, torch.Tensor):
        return out if out.is_floating_point() else None
    if isinstance(out, Mapping):
        for key in ("last_hidden_state", "logits"):
            v = out.get(key)
            if isinstance(v, torch.Tensor) and v.is_floating_point():
                return v
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        for v in out:
            t = first_float(v)
            if t is not None:
                return t
    if hasattr(out, "to_tuple"):
        return first_float(out.to_tuple())
    return None


def on_inputs(model: nn.Module, inputs: Iterable[Any], paths: Iterable[str],
              fn: Callable[[str, nn.Module, tuple, dict], Any], *, training: bool = False,
              combine: Callable[[Any, Any], Any] | None = None) -> dict[str, Any]:
    """Run the model once; store ``fn(path, mod, args, kwargs)`` for the first call of each module in
    ``paths`` (or fold every call's value with ``combine``, e.g. ``min``)."""
    with observing(model, paths, fn, combine) as got, mode(model, training), torch.no_grad():
        call(model, inputs)
    return {k: v for k, v in got.items() if v is not None}


@contextlib.contextmanager
def observing(model: nn.Module, paths: Iterable[str], fn: Callable[[str, nn.Module, tuple, dict], Any],
              combine: Callable[[Any, Any], Any] | None = None) -> Iterator[dict[str, Any]]:
    """Pre-forward hooks on the modules at ``paths`` for the block; the dict fills as they run."""
    got: dict[str, Any] = {}
    handles = []
    for path in dict.fromkeys(paths):
        try:
            mod = model.get_submodule(path)
        except AttributeError:
            continue

        def hook(m: nn.Module, args: tuple, kwargs: dict, _p: str = path) -> None:
            if _p in got and combine is None:
                return
            try:
                v = fn(_p, m, args, kwargs)
            except Exception:  # a statistic we cannot take must not stop the run
                v = None
            old = got.get(_p)
            got[_p] = v if old is None else old if v is None or combine is None else combine(old, v)

        handles.append(mod.register_forward_pre_hook(hook, with_kwargs=True))
    try:
        yield got
    finally:
        for h in handles:
            h.remove()


@dataclass
class Observation:
    """Statistics a pass wants from the one forward that checks the example inputs
    (:func:`modelcheck.load.inputs.forward`), so that it need not run the model again. ``values`` holds
    them after a run in :func:`checking_mode` that was the analysis (eval) mode everywhere."""

    paths: Mapping[str, str]  # module path -> what the pass needs to know about it (e.g. norm kind)
    fn: Callable[[str, nn.Module, tuple, dict], Any]
    combine: Callable[[Any, Any], Any] | None = None
    values: dict[str, Any] | None = None


@contextlib.contextmanager
def checking_mode(model: nn.Module) -> Iterator[bool]:
    """The mode example inputs are checked in: eval, except BatchNorm, which stays in training mode
    (its "more than 1 value per channel" check is an input error users must see). Yields whether
    this is plain eval mode: the model has no such BatchNorm. Flags are restored after."""
    with mode(model, False):
        batch_norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        for m in batch_norms:
            m.train()
        yield not batch_norms


@dataclass
class Measurement:
    """What the forward that checks the example inputs saw (issue 11): the RMS of the first float
    input and of the primary output, and of each leaf module's first input, for comparing the
    predicted propagation with the observed one at no extra forward."""

    input_rms: float | None = None
    output_rms: float | None = None
    module_input_rms: dict[str, float] = field(default_factory=dict)

    @property
    def forward_gain(self) -> float | None:
        if self.input_rms is None or self.output_rms is None or self.input_rms <= 0:
            return None
        return self.output_rms / self.input_rms


def _rms(t: Any) -> float | None:
    if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.numel() == 0 or t.is_meta:
        return None
    # one read of the tensor, no float64 copy: this runs on every leaf module's input
    return float(torch.linalg.vector_norm(t.detach(), dtype=torch.float32)) / math.sqrt(t.numel())


@contextlib.contextmanager
def measuring(model: nn.Module, inputs: Iterable[Any], into: Measurement) -> Iterator[Callable[[Any], None]]:
    """Record ``into``'s statistics while the block runs the model; call the yielded function with
    the model's output."""
    x = next((t for t in inputs if isinstance(t, torch.Tensor) and t.is_floating_point()), None)
    into.input_rms = _rms(x)
    leaves = [p for p, m in model.named_modules() if p and not next(m.children(), None)]

    def stat(path: str, mod: nn.Module, args: tuple, kwargs: dict) -> float | None:
        first = args[0] if args else next(iter(kwargs.values()), None)
        return _rms(first)

    def done(out: Any) -> None:
        into.output_rms = _rms(first_float(out))

    with observing(model, leaves, stat) as got:
        yield done
    into.module_input_rms = {k: v for k, v in got.items() if v is not None}
