"""Symptom measurements for the decision table (THEORY §6), taken during one forward pass:

- ReLU activity: fraction of outputs > 0 of every ``nn.ReLU``/``ReLU6`` and of the modules a
  ``dead-relu-risk`` finding names (a Linear feeding ``F.relu``: its pre-activations);
- normalisation input: min over rows of the row std (LayerNorm) or row RMS (RMSNorm-like), against eps;
- attention: mean over query rows of H(p) / log T, for ``nn.MultiheadAttention`` (re-run with
  ``need_weights``) and for functional ``softmax`` / ``scaled_dot_product_attention`` calls on
  attention-shaped tensors, attributed to the innermost module running.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from modelcheck.probe.measure import Collector
from modelcheck.probe.records import Symptoms
from modelcheck.probe.task import first_float

MASKED = -5e3  # scores at or below this are masks (-inf, finfo.min, -1e4 conventions)
_SOFTMAX = {torch.softmax, F.softmax, torch.Tensor.softmax, torch.nn.functional.softmax}
_RELUS = (nn.ReLU, nn.ReLU6)


def normalized_entropy(p: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Mean over rows with > 1 allowed key of H(p) / log(#allowed); a device scalar (no sync)."""
    p = p.detach().float()
    n = allowed.expand_as(p).sum(-1).float()
    h = -(p * p.clamp_min(1e-30).log()).sum(-1)
    ok = n > 1
    ratio = torch.where(ok, h / n.clamp_min(2).log(), torch.zeros_like(h))
    return ratio.sum() / ok.sum().clamp_min(1)


def _sdpa_entropy(q: torch.Tensor, k: torch.Tensor, v: Any = None, attn_mask: Any = None, dropout_p: float = 0.0,
                  is_causal: bool = False, scale: float | None = None, enable_gqa: bool = False,
                  **_: Any) -> torch.Tensor:
    q, k = q.detach().float(), k.detach().float()
    if q.dim() >= 3 and k.dim() >= 3 and q.shape[-3] != k.shape[-3] and q.shape[-3] % k.shape[-3] == 0:
        k = k.repeat_interleave(q.shape[-3] // k.shape[-3], dim=-3)  # grouped-query attention
    scores = q @ k.transpose(-2, -1) * (scale if scale is not None else 1.0 / math.sqrt(q.shape[-1]))
    allowed = torch.ones_like(scores, dtype=torch.bool)
    if is_causal:
        allowed = allowed & torch.ones(scores.shape[-2:], dtype=torch.bool, device=scores.device).tril()
    if isinstance(attn_mask, torch.Tensor):
        if attn_mask.dtype == torch.bool:
            allowed = allowed & attn_mask
        else:
            scores = scores + attn_mask.float()
            allowed = allowed & (attn_mask > MASKED)
    p = scores.masked_fill(~allowed, -math.inf).softmax(-1).nan_to_num(0.0)
    return normalized_entropy(p, allowed)


def _attention_shaped(t: torch.Tensor, dim: int) -> bool:
    last = dim in (-1, t.dim() - 1)
    return last and (t.dim() >= 4 or (t.dim() == 3 and t.shape[-1] == t.shape[-2]))


class _Functional(TorchFunctionMode):
    def __init__(self, on_entropy: Callable[[torch.Tensor], None]) -> None:
        super().__init__()
        self.on_entropy = on_entropy

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        try:
            if func in _SOFTMAX and args and isinstance(args[0], torch.Tensor):
                dim = kwargs.get("dim", args[1] if len(args) > 1 else -1)
                s = args[0]
                if isinstance(dim, int) and _attention_shaped(s, dim) and isinstance(out, torch.Tensor):
                    allowed = torch.isfinite(s.detach()) & (s.detach() > MASKED)
                    self.on_entropy(normalized_entropy(out, allowed))
            elif func is F.scaled_dot_product_attention and len(args) >= 2:
                self.on_entropy(_sdpa_entropy(*args, **kwargs))
        except Exception:  # a measurement must never break the user's forward
            pass
        return out


class SymptomProbe:
    """Context manager around one forward pass; :meth:`result` reads everything in one transfer."""

    def __init__(self, model: nn.Module, device: torch.device, watch_active: frozenset[str] = frozenset()) -> None:
        self.model, self.device, self.watch = model, device, watch_active
        self._col = Collector(device)
        self._eps: dict[str, float] = {}
        self._stack: list[str] = []
        self._handles: list[Any] = []
        self._mode: _Functional | None = None
        self._rerun = False

    def __enter__(self) -> SymptomProbe:
        for path, mod in self.model.named_modules():
            label = path or "(root)"
            self._handles.append(mod.register_forward_pre_hook(self._push(label)))
            self._handles.append(mod.register_forward_hook(self._pop))
            if isinstance(mod, _RELUS) or label in self.watch:
                self._handles.append(mod.register_forward_hook(self._active(label)))
            if self._norm_kind(mod):
                self._handles.append(mod.register_forward_pre_hook(self._norm(label, mod)))
            if isinstance(mod, nn.MultiheadAttention):
                self._handles.append(mod.register_forward_hook(self._mha(label), with_kwargs=True))
        self._mode = _Functional(lambda e: self._col.add(f"attn.{self._where()}", e))
        self._mode.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._mode is not None:
            self._mode.__exit__(*exc)
            self._mode = None
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _where(self) -> str:
        return self._stack[-1] if self._stack else "(root)"

    def _push(self, label: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any) -> None:
            self._stack.append(label)
        return hook

    def _pop(self, module: nn.Module, args: Any, out: Any) -> None:
        if self._stack:
            self._stack.pop()

    def _active(self, label: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, out: Any) -> None:
            y = first_float(out)
            if y is not None and y.numel():
                self._col.add(f"relu.{label}", (y.detach() > 0).float().mean())
        return hook

    @staticmethod
    def _norm_kind(mod: nn.Module) -> str | None:
        name = type(mod).__name__
        if isinstance(mod, nn.LayerNorm):
            return "layer"
        if "RMSNorm" in name or (("Norm" in name) and hasattr(mod, "variance_epsilon")):
            return "rms"
        return None

    def _norm(self, label: str, mod: nn.Module) -> Callable[..., None]:
        kind = self._norm_kind(mod)

        def hook(module: nn.Module, args: Any) -> None:
            x = args[0] if args and isinstance(args[0], torch.Tensor) else None
            if x is None or not x.is_floating_point() or not x.numel():
                return
            shape = getattr(module, "normalized_shape", None)
            width = math.prod(shape) if shape else x.shape[-1]
            rows = x.detach().float().reshape(-1, width)
            stat = rows.std(-1, unbiased=False) if kind == "layer" else rows.pow(2).mean(-1).sqrt()
            eps = getattr(module, "eps", None) or getattr(module, "variance_epsilon", None)
            self._eps[label] = float(eps) if eps is not None else float(torch.finfo(x.dtype).eps)
            self._col.add(f"norm.{label}", stat.min())
        return hook

    def _mha(self, label: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, kwargs: dict[str, Any], out: Any) -> None:
            if self._rerun:
                return
            self._rerun = True
            try:
                kw = dict(kwargs, need_weights=True, average_attn_weights=False)
                masked = any(kw.get(k) is not None for k in ("attn_mask", "key_padding_mask")) or kw.get("is_causal")
                with torch.no_grad():
                    _, w = module.forward(*args, **kw)  # .forward: no hooks fire for the re-run
                if isinstance(w, torch.Tensor):
                    allowed = w > 0 if masked else torch.ones_like(w, dtype=torch.bool)
                    self._col.add(f"attn.{label}", normalized_entropy(w, allowed))
            except Exception:  # e.g. is_causal without a mask: no measurement, no failure
                pass
            finally:
                self._rerun = False
        return hook

    def result(self, step: int) -> Symptoms:
        read = self._col.flush()
        relu: dict[str, float] = {}
        norms: dict[str, tuple[float, float]] = {}
        attn: dict[str, float] = {}
        for key, vals in read.items():
            kind, _, label = key.partition(".")
            if kind == "relu":
                relu[label] = sum(vals) / len(vals)
            elif kind == "norm":
                norms[label] = (min(vals), self._eps.get(label, math.nan))
            elif kind == "attn":
                attn[label] = min(vals)
        return Symptoms(step, relu, norms, attn)
