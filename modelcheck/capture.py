"""Running the user's model at the example input without side effects, for the passes that need real
activations (norm row statistics for Lipschitz, module inputs for local Jacobians).

Every run restores the per-module ``training`` flags and, in training mode, the buffers (BatchNorm
running statistics), so analysis never changes the model it reports on.
"""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass, field
from functools import partial
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

        try:
            handles.append(mod.register_forward_pre_hook(hook, with_kwargs=True))
        except RuntimeError:  # a ScriptModule takes no hooks: that module goes unobserved
            continue
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


# When the check's forward also measures the backward gain (one VJP): a stated size rule, so that large
# models (ResNet-50, GPT-2 small) pay nothing extra. Decided before the forward on the parameter count
# (grad is enabled only then), and after it on the activations the backward would walk back through.
BACKWARD_MAX_PARAMETERS = 1 << 22  # 4.2M parameters
BACKWARD_MAX_ACTIVATIONS = 1 << 24  # 16.8M elements summed over every leaf module's input (64 MiB fp32)
FLOAT32_MAX = 3.4028234663852886e38


def backward_is_cheap(num_parameters: int, meta: bool = False) -> bool:
    """The first half of the rule: a real model of at most :data:`BACKWARD_MAX_PARAMETERS` parameters."""
    return not meta and num_parameters <= BACKWARD_MAX_PARAMETERS


@dataclass
class Measurement:
    """What the forward that checks the example inputs saw (issue 11): the RMS of the input x and of
    the primary output, and of each leaf module's first input, for comparing the predicted propagation
    with the observed one at no extra forward. x is SPEC §2's: the first float input, else the output
    of the first embedding lookup.

    With ``backward`` (set by the caller from :func:`backward_is_cheap`) that forward runs with grad on
    x and, when its activations stay under :data:`BACKWARD_MAX_ACTIVATIONS`, one backward of
    ``L = sum(y * u)``, u ~ N(0, 1): the RMS of dL/dx and of dL/d(each leaf module's input). A gradient
    that is not finite in float32 is recorded as ``inf`` (overflowed), never as a number."""

    input_rms: float | None = None
    output_rms: float | None = None
    module_input_rms: dict[str, float] = field(default_factory=dict)
    backward: bool = False
    input_grad_rms: float | None = None
    cotangent_rms: float | None = None
    module_grad_rms: dict[str, float] = field(default_factory=dict)
    activations: int = 0  # elements over every leaf module's first input

    @property
    def forward_gain(self) -> float | None:
        if self.input_rms is None or self.output_rms is None or self.input_rms <= 0:
            return None
        return self.output_rms / self.input_rms

    @property
    def backward_gain(self) -> float | None:
        if self.input_grad_rms is None or not self.cotangent_rms:
            return None
        return self.input_grad_rms / self.cotangent_rms


def _rms(t: Any, wide: bool = False) -> float | None:
    """RMS in float32 (one read, no float64 copy: this runs on every leaf module's input); with ``wide``,
    a float32 sum of squares that overflowed is redone in float64, where finite float32 values cannot."""
    if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.numel() == 0 or t.is_meta:
        return None
    norm = float(torch.linalg.vector_norm(t.detach(), dtype=torch.float32))
    if wide and math.isinf(norm):
        norm = float(torch.linalg.vector_norm(t.detach(), dtype=torch.float64))
    return norm / math.sqrt(t.numel())


def float32_or_inf(v: float) -> float:
    """``v``, or ``inf`` when it is not a finite float32 number (overflowed: not measured)."""
    return v if math.isfinite(v) and v < FLOAT32_MAX else math.inf


def _grad_rms(t: torch.Tensor | None) -> float:
    """RMS of a gradient; ``inf`` when it is not a finite float32 number (overflowed: not measured)."""
    if t is None:
        return 0.0
    v = _rms(t, wide=True)
    return math.inf if v is None else float32_or_inf(v)


class _Leaf:
    """SPEC §2's x made a leaf that requires grad: the first float input, else the first embedding output.
    The model gets a clone, so in-place ops on its input stay legal and never touch the caller's tensor."""

    def __init__(self) -> None:
        self.x: torch.Tensor | None = None

    def make(self, t: torch.Tensor) -> torch.Tensor:
        self.x = t.detach().requires_grad_(True)
        return self.x.clone()


# What a forward raises only because grad is on; anything else it raises without grad too.
_GRAD_ONLY = re.compile(r"grad|backward|in-?place", re.IGNORECASE)


def _record_grad(into: dict[str, float], path: str, g: torch.Tensor) -> None:
    into.setdefault(path, _grad_rms(g))


def _x_index(args: tuple[Any, ...]) -> int | None:
    return next((i for i, t in enumerate(args) if isinstance(t, torch.Tensor) and t.is_floating_point()), None)


@contextlib.contextmanager
def measuring(model: nn.Module, inputs: Iterable[Any], into: Measurement) -> Iterator[Callable[[], Any]]:
    """Record ``into``'s statistics while the block runs the model: call the yielded function (no
    arguments) to run the forward (and, by the size rule, the backward) on ``inputs``; it returns the
    model's output."""
    args = tuple(inputs)
    xi = _x_index(args)
    leaf = _Leaf()
    grads: dict[str, float] = {}

    def run_grad() -> Any:
        with torch.enable_grad():
            xs = tuple(leaf.make(t) if i == xi else t for i, t in enumerate(args))
            out = model(*xs)
            y = first_float(out)
            into.output_rms = _rms(y, wide=True)
            if (leaf.x is not None and y is not None and y.requires_grad
                    and into.activations <= BACKWARD_MAX_ACTIVATIONS):
                _backward(leaf.x, y, into)
        return out

    def run() -> Any:
        if into.backward:
            try:
                return run_grad()
            except Exception as exc:
                if not _GRAD_ONLY.search(str(exc)):
                    raise  # the forward's own failure (a wrong input shape): it fails without grad too
                # the forward cannot run with grad (.numpy() on an activation, an in-place edit of a
                # leaf): the plain check runs instead, with no backward gain
                into.backward, into.input_grad_rms, into.cotangent_rms, leaf.x = False, None, None, None
                grads.clear()
                into.input_rms = _rms(args[xi], wide=True) if xi is not None else None
        into.activations = 0
        out = model(*args)
        into.output_rms = _rms(first_float(out), wide=True)
        return out

    with _recording(model, args, xi, into, leaf, grads):
        yield run
    into.module_grad_rms = dict(grads) if into.input_grad_rms is not None else {}


@contextlib.contextmanager
def riding(model: nn.Module, inputs: Iterable[Any], into: Measurement) -> Iterator[Callable[[Any], None]]:
    """Record ``into``'s forward statistics (no backward) from a forward the block runs some other way:
    torch.fx's live lowering calls every leaf module on the real inputs without calling the root. Call
    the yielded function with the model's output. If the block raises, ``into`` is left empty."""
    args = tuple(inputs)
    into.backward = False

    def finish(out: Any) -> None:
        into.output_rms = _rms(first_float(out), wide=True)

    try:
        with _recording(model, args, _x_index(args), into, _Leaf(), {}):
            yield finish
    except BaseException:
        into.input_rms = into.output_rms = None
        into.module_input_rms, into.activations = {}, 0
        raise


@contextlib.contextmanager
def _recording(model: nn.Module, args: tuple[Any, ...], xi: int | None, into: Measurement, leaf: _Leaf,
               grads: dict[str, float]) -> Iterator[None]:
    """The hooks both runs share: x's RMS, each leaf module's first input (and, under grad, a hook
    for its gradient), and x taken from the first embedding's output when the inputs are token ids."""
    into.input_rms = _rms(args[xi], wide=True) if xi is not None else None
    leaves = [p for p, m in model.named_modules() if p and not next(m.children(), None)]

    def stat(path: str, mod: nn.Module, a: tuple, kwargs: dict) -> float | None:
        first = a[0] if a else next(iter(kwargs.values()), None)
        if isinstance(first, torch.Tensor):
            into.activations += first.numel()
            if first.requires_grad and torch.is_grad_enabled():
                first.register_hook(partial(_record_grad, grads, path))
        return _rms(first)

    # token ids are not a signal: x is the output of the first embedding lookup that runs
    embeds = [m for m in model.modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag))] if xi is None else []

    def on_embedding(mod: nn.Module, a: tuple, out: Any) -> Any:
        if not isinstance(out, torch.Tensor) or leaf.x is not None or into.input_rms is not None:
            return None
        into.input_rms = _rms(out, wide=True)
        return leaf.make(out) if torch.is_grad_enabled() else None

    hooks = []
    for m in embeds:
        with contextlib.suppress(RuntimeError):  # a ScriptModule takes no hooks
            hooks.append(m.register_forward_hook(on_embedding))
    try:
        with observing(model, leaves, stat) as got:
            yield
    finally:
        for h in hooks:
            h.remove()
    into.module_input_rms = {k: v for k, v in got.items() if v is not None}


def _backward(x: torch.Tensor, y: torch.Tensor, into: Measurement) -> None:
    """One VJP: L = sum(y * u), u ~ N(0, 1) from a fixed generator; dL/dx's RMS, or nothing if it fails."""
    u = torch.randn(tuple(y.shape), generator=torch.Generator().manual_seed(0), dtype=torch.float32).to(y.device)
    try:
        (g,) = torch.autograd.grad((y.float() * u).sum(), x, allow_unused=True)
    except RuntimeError:  # a non-differentiable op, an in-place edit autograd rejects: no backward gain
        return
    into.cotangent_rms = _rms(u)
    into.input_grad_rms = _grad_rms(g)
