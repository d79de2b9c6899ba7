"""Record how parameters were initialised while a model is built, so that a model on the ``meta``
device (no weights) can still be analysed from the distributions its weights *would* have.

``with record_init() as rec: model = Build()`` then ``rec.resolve(model)`` -> ``{qualname: InitRecord}``.

Two layers of interception, because neither alone sees everything:

- a ``TorchDispatchMode`` sees the in-place ops that the init functions decompose into (``uniform_``,
  ``normal_``, ``fill_``, ``zero_``, ``erfinv_``/``mul_``/``add_``/``clamp_`` of the classic truncated
  normal, ``weight.data.mul_(c)`` rescaling, partial writes such as a zeroed padding row);
- ``torch.nn.init.trunc_normal_``/``orthogonal_``/``sparse_``/``eye_`` are no-ops on meta in torch 2.13
  (and rejection-sample on real tensors), so they are wrapped at the Python level for the duration, in
  ``torch.nn.init`` and in transformers' table of the originals when transformers is loaded.

Records are keyed by storage (``Parameter(t)``, ``.data`` and views share it), the last full write wins.
Hugging Face models skip ``_init_weights`` when built on meta; :meth:`InitRecorder.resolve` runs it.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import sys
from typing import Any, Callable, Iterator

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from modelcheck.numerics.initdist import (  # noqa: F401  (re-exported: the records are part of this module's API)
    UNKNOWN,
    InitRecord,
    clamp,
    constant,
    erfinv,
    mixture,
    normal,
    trunc_normal,
    uniform,
)


def _key(t: torch.Tensor) -> int | None:
    try:
        return int(t.untyped_storage()._cdata)
    except Exception:  # sparse, nested or otherwise storage-less tensors
        return None


def _storage_numel(t: torch.Tensor) -> int:
    try:
        return int(t.untyped_storage().nbytes()) // max(t.element_size(), 1)
    except Exception:
        return int(t.numel())


def _scalar(x: Any) -> float | None:
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return float(x)
    if isinstance(x, torch.Tensor) and x.numel() == 1 and not x.is_meta:
        return float(x.item())
    return None


# Ops whose fresh output carries its (single) input's distribution over unchanged.
_PROPAGATE = {"_to_copy", "clone", "contiguous", "_copy_from", "lift_fresh_copy", "to"}
# Factory ops: a fresh storage, whose record is set (known values) or cleared (address reuse).
_FACTORY = {"empty", "empty_strided", "empty_like", "new_empty", "new_empty_strided", "zeros", "zeros_like",
            "new_zeros", "ones", "ones_like", "new_ones", "full", "full_like", "new_full", "randn",
            "randn_like", "rand", "rand_like", "normal"}
_ARITH = {"mul", "div", "add", "sub"}
_HARMLESS = {"detach_", "requires_grad_", "share_memory_", "pin_memory_"}


class _Mode(TorchDispatchMode):
    def __init__(self, rec: InitRecorder) -> None:
        super().__init__()
        self.rec = rec

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if not self.rec.suppress:
            try:
                self.rec._observe(func._overloadpacket.__name__, args, kwargs, out)
            except Exception:  # recording must never break model construction
                pass
        return out


class InitRecorder:
    """Holds storage -> (full numel, record); filled by :func:`record_init`."""

    def __init__(self) -> None:
        self.by_storage: dict[int, tuple[int, InitRecord]] = {}
        self.suppress = 0
        self.notes: list[str] = []

    # -- bookkeeping ------------------------------------------------------------------------------
    def set(self, t: torch.Tensor, new: InitRecord) -> None:
        k = _key(t)
        if k is None:
            return
        full = _storage_numel(t)
        n = int(t.numel())
        old = self.by_storage.get(k)
        if n >= full or full == 0:
            self.by_storage[k] = (full, new)
        elif old is not None and old[1].kind != "unknown":
            self.by_storage[k] = (full, mixture(old[1], new, n / full))
        else:
            self.by_storage[k] = (full, UNKNOWN)

    def get(self, t: torch.Tensor) -> InitRecord | None:
        k = _key(t)
        got = self.by_storage.get(k) if k is not None else None
        return got[1] if got is not None else None

    def _transform(self, t: torch.Tensor, fn: Callable[[InitRecord], InitRecord]) -> None:
        k = _key(t)
        got = self.by_storage.get(k) if k is not None else None
        if got is None:
            return
        full, old = got
        if int(t.numel()) >= full:
            self.by_storage[k] = (full, fn(old))  # type: ignore[index]
        else:  # an in-place op on part of the tensor: moments no longer follow a known family
            self.by_storage[k] = (full, UNKNOWN)  # type: ignore[index]

    # -- the dispatch-level view ------------------------------------------------------------------
    def _observe(self, name: str, args: tuple, kwargs: dict, out: Any) -> None:
        self_t = args[0] if args and isinstance(args[0], torch.Tensor) else None
        if name in ("normal_",) and self_t is not None:
            mean = _scalar(args[1] if len(args) > 1 else kwargs.get("mean", 0.0))
            std = _scalar(args[2] if len(args) > 2 else kwargs.get("std", 1.0))
            self.set(self_t, normal(mean, std) if mean is not None and std is not None else UNKNOWN)
        elif name == "uniform_" and self_t is not None:
            a = _scalar(args[1] if len(args) > 1 else kwargs.get("from", 0.0))
            b = _scalar(args[2] if len(args) > 2 else kwargs.get("to", 1.0))
            self.set(self_t, uniform(a, b) if a is not None and b is not None else UNKNOWN)
        elif name == "fill_" and self_t is not None:
            v = _scalar(args[1] if len(args) > 1 else kwargs.get("value"))
            self.set(self_t, constant(v) if v is not None else UNKNOWN)
        elif name == "zero_" and self_t is not None:
            self.set(self_t, constant(0.0))
        elif name in ("mul_", "div_") and self_t is not None and len(args) > 1:
            c = _scalar(args[1])
            if c is None or (name == "div_" and c == 0):
                self._transform(self_t, lambda r: UNKNOWN)
            else:
                self._transform(self_t, functools.partial(InitRecord.scaled, c=c if name == "mul_" else 1 / c))
        elif name in ("add_", "sub_") and self_t is not None and len(args) > 1:
            c = _scalar(args[1])
            alpha = _scalar(kwargs.get("alpha", 1.0)) or 1.0
            if c is None:
                self._transform(self_t, lambda r: UNKNOWN)
            else:
                self._transform(self_t, functools.partial(InitRecord.shifted, c=(c if name == "add_" else -c) * alpha))
        elif name == "erfinv_" and self_t is not None:
            self._transform(self_t, erfinv)
        elif name == "clamp_" and self_t is not None:
            lo = _scalar(args[1] if len(args) > 1 else kwargs.get("min"))
            hi = _scalar(args[2] if len(args) > 2 else kwargs.get("max"))
            self._transform(self_t, functools.partial(clamp, lo=lo, hi=hi))
        elif name == "copy_" and self_t is not None and len(args) > 1 and isinstance(args[1], torch.Tensor):
            src = self.get(args[1]) if _key(args[1]) != _key(self_t) else None
            self.set(self_t, src if src is not None else UNKNOWN)
        elif name.endswith("_") and self_t is not None and not name.startswith("_"):
            # any other in-place write (index_put_, masked_fill_, exponential_, ...): unknown from here
            # on, so that the default-init table is not trusted for a tensor someone overwrote
            if name not in _HARMLESS:
                self.set(self_t, UNKNOWN)
        elif isinstance(out, torch.Tensor) and not name.endswith("_"):
            self._fresh(name, args, kwargs, out)

    def _fresh(self, name: str, args: tuple, kwargs: dict, out: torch.Tensor) -> None:
        """An out-of-place op: a new storage gets a record (or loses a stale one from address reuse)."""
        k = _key(out)
        in_keys = {_key(a) for a in args if isinstance(a, torch.Tensor)}
        if k is None or k in in_keys:
            return  # a view of an input: same storage, same record
        self.by_storage.pop(k, None)
        src = self.get(args[0]) if args and isinstance(args[0], torch.Tensor) else None
        rec: InitRecord | None = None
        if name in _FACTORY:
            rec = _factory_record(name, args, kwargs)
        elif name in _PROPAGATE:
            rec = src
        elif name in _ARITH and src is not None and len(args) > 1:
            c = _scalar(args[1])
            if c is not None and not (isinstance(args[1], torch.Tensor) and args[1].dim() > 0):
                if name == "mul":
                    rec = src.scaled(c)
                elif name == "div" and c != 0:
                    rec = src.scaled(1 / c)
                elif name in ("add", "sub"):
                    alpha = _scalar(kwargs.get("alpha", 1.0)) or 1.0
                    rec = src.shifted((c if name == "add" else -c) * alpha)
        if rec is not None:
            self.set(out, rec)

    # -- results ----------------------------------------------------------------------------------
    def resolve(self, model: nn.Module, *, complete_hf_init: bool = True) -> dict[str, InitRecord]:
        """Records for ``model``'s parameters and buffers by qualified name (only those recorded)."""
        if complete_hf_init:
            self._complete_hf_init(model)
        found: dict[str, InitRecord] = {}
        named = list(model.named_parameters(remove_duplicate=False)) + list(model.named_buffers(remove_duplicate=False))
        for name, t in named:
            if t is None:
                continue
            rec = self.get(t)
            if rec is not None:
                found[name] = rec
        return found

    def _complete_hf_init(self, model: nn.Module) -> None:
        """Hugging Face skips ``_init_weights`` on meta ("no point"); run it so the records are right."""
        init = getattr(model, "initialize_weights", None)
        params = list(model.parameters())
        if init is None or not params or not all(p.is_meta for p in params):
            return
        if all(getattr(m, "_is_hf_initialized", False) for m in model.modules()):
            return
        try:
            with self.active():
                init()
        except Exception as exc:  # a custom _init_weights that cannot run on meta
            self.notes.append(f"could not replay Hugging Face weight init on meta: {exc}")

    @contextlib.contextmanager
    def active(self) -> Iterator[InitRecorder]:
        with _patched_init_functions(self), _Mode(self):
            yield self


def _factory_record(name: str, args: tuple, kwargs: dict) -> InitRecord | None:
    if name.startswith(("zeros", "new_zeros")):
        return constant(0.0)
    if name.startswith(("ones", "new_ones")):
        return constant(1.0)
    if name in ("full", "new_full", "full_like"):
        v = _scalar(kwargs.get("fill_value", args[-1] if args else None))
        return constant(v) if v is not None else None
    if name in ("randn", "randn_like"):
        return normal(0.0, 1.0)
    if name in ("rand", "rand_like"):
        return uniform(0.0, 1.0)
    if name == "normal" and len(args) >= 2:
        mean, std = _scalar(args[0]), _scalar(args[1])
        if mean is not None and std is not None and not isinstance(args[0], torch.Tensor):
            return normal(mean, std)
    return None


# -- Python-level wrappers for the init functions that are no-ops on meta ---------------------------

def _fan_shape(t: torch.Tensor) -> tuple[int, int]:
    rows = int(t.shape[0]) if t.dim() else 1
    return rows, int(t.numel()) // max(rows, 1)


def _semantic(name: str, t: torch.Tensor, a: inspect.BoundArguments) -> InitRecord:
    p = a.arguments
    if name == "trunc_normal_":
        return trunc_normal(p.get("mean", 0.0), p.get("std", 1.0), p.get("a", -2.0), p.get("b", 2.0))
    if name == "orthogonal_":
        rows, cols = _fan_shape(t)
        gain = float(p.get("gain", 1.0))
        return InitRecord("orthogonal", 0.0, abs(gain) / math.sqrt(max(rows, cols, 1)), value=gain)
    if name == "sparse_":
        rows, _ = _fan_shape(t)
        keep = 1 - math.ceil(float(p["sparsity"]) * rows) / max(rows, 1)
        return InitRecord("sparse", 0.0, float(p.get("std", 0.01)) * math.sqrt(max(keep, 0.0)))
    if name == "eye_":
        rows, cols = _fan_shape(t)
        frac = min(rows, cols) / max(rows * cols, 1)
        return InitRecord("mixture", frac, math.sqrt(max(frac - frac * frac, 0.0)), 0.0, 1.0)
    return UNKNOWN


_WRAPPED = ("trunc_normal_", "orthogonal_", "sparse_", "eye_")


@contextlib.contextmanager
def _patched_init_functions(rec: InitRecorder) -> Iterator[None]:
    tables: list[tuple[Any, bool]] = [(torch.nn.init, False)]
    hf = sys.modules.get("transformers.initialization")
    if hf is not None and isinstance(getattr(hf, "TORCH_INIT_FUNCTIONS", None), dict):
        tables.append((hf.TORCH_INIT_FUNCTIONS, True))
    saved: list[tuple[Any, bool, str, Any]] = []

    def wrap(name: str, orig: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(orig)

        @functools.wraps(orig)
        def wrapper(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            rec.suppress += 1
            try:
                out = orig(tensor, *args, **kwargs)
            finally:
                rec.suppress -= 1
            try:
                bound = sig.bind(tensor, *args, **kwargs)
                bound.apply_defaults()
                rec.set(tensor, _semantic(name, tensor, bound))
            except Exception:
                rec.set(tensor, UNKNOWN)
            return out

        wrapper.__modelcheck_wrapped__ = orig  # type: ignore[attr-defined]
        return wrapper

    try:
        for table, is_dict in tables:
            for name in _WRAPPED:
                orig = table.get(name) if is_dict else getattr(table, name, None)
                if orig is None or hasattr(orig, "__modelcheck_wrapped__"):
                    continue
                saved.append((table, is_dict, name, orig))
                if is_dict:
                    table[name] = wrap(name, orig)
                else:
                    setattr(table, name, wrap(name, orig))
        yield
    finally:
        for table, is_dict, name, orig in reversed(saved):
            if is_dict:
                table[name] = orig
            else:
                setattr(table, name, orig)


@contextlib.contextmanager
def record_init() -> Iterator[InitRecorder]:
    """Record the last initialisation of every tensor created or written inside the block."""
    rec = InitRecorder()
    with rec.active():
        yield rec
