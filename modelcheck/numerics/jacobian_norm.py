"""Local Jacobian spectral norm ‖J_f(x)‖₂ by power iteration on JᵀJ (THEORY §2).

v ~ N(0, I)/‖·‖; repeat w = J v, v′ = Jᵀw, σ̂ = √‖v′‖, v = v′/‖v′‖. σ̂ never exceeds the true norm
(‖JᵀJv‖ ≤ σ²) and converges to it. Three ways to apply J, tried in order:

1. ``torch.func.jvp`` + a reused ``torch.func.vjp`` closure;
2. the same under the math SDPA backend and without the fused ``TransformerEncoderLayer`` fast path
   (neither CPU flash attention nor ``_transformer_encoder_layer_fwd`` has forward-mode AD);
3. double-VJP with plain autograd, also under the math backend (flash attention's backward is not
   differentiable): one forward graph, J v = ∂⟨Jᵀu, v⟩/∂u. This is also the path for training mode
   (BatchNorm updates its buffers in place, which ``torch.func`` refuses; dropout masks must stay
   fixed across iterations).
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Callable, Iterator, NamedTuple

import torch

Fn = Callable[[torch.Tensor], torch.Tensor]


class PowerResult(NamedTuple):
    norm: float
    iters: int
    converged: bool
    method: str
    rms_in: float
    rms_out: float


@contextlib.contextmanager
def _math_sdpa() -> Iterator[None]:
    """Math attention (differentiable twice, forward-mode ready) and no fused encoder-layer fast path."""
    mha = getattr(torch.backends, "mha", None)
    fast = mha.get_fastpath_enabled() if mha is not None else None
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:  # older torch
        kernel: contextlib.AbstractContextManager = contextlib.nullcontext()
    else:
        kernel = sdpa_kernel([SDPBackend.MATH])
    try:
        if mha is not None:
            mha.set_fastpath_enabled(False)
        with kernel:
            yield
    finally:
        if mha is not None and fast is not None:
            mha.set_fastpath_enabled(fast)


def _norm(t: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(t.detach(), dtype=torch.float64))  # float32 squares overflow at 1e19


def _rms(t: torch.Tensor) -> float:
    return float(t.detach().double().pow(2).mean().sqrt()) if t.numel() else 0.0


def _func_ops(f: Fn, x: torch.Tensor) -> tuple[torch.Tensor, Fn, Fn]:
    y, vjp_fn = torch.func.vjp(f, x)[:2]
    return y, (lambda v: torch.func.jvp(f, (x,), (v,))[1]), (lambda w: vjp_fn(w)[0])


def _double_vjp_ops(f: Fn, x: torch.Tensor) -> tuple[torch.Tensor, Fn, Fn]:
    xr = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        y = f(xr)
        if not y.requires_grad:  # the output does not depend on x
            zero_in, zero_out = torch.zeros_like(xr), torch.zeros_like(y)
            return y.detach(), (lambda v: zero_out), (lambda w: zero_in)
        u = torch.zeros_like(y, requires_grad=True)
        (gx,) = torch.autograd.grad(y, xr, u, create_graph=True, allow_unused=True)

    def jt(w: torch.Tensor) -> torch.Tensor:
        (g,) = torch.autograd.grad(y, xr, w, retain_graph=True, allow_unused=True)
        return torch.zeros_like(xr) if g is None else g

    def j(v: torch.Tensor) -> torch.Tensor:
        if gx is None or not gx.requires_grad:
            return torch.zeros_like(y)
        (jv,) = torch.autograd.grad(gx, u, v, retain_graph=True, allow_unused=True)
        return torch.zeros_like(y) if jv is None else jv

    return y.detach(), j, jt


def jacobian_norm(
    f: Fn,
    x: torch.Tensor,
    *,
    max_iters: int = 50,
    tol: float = 1e-4,
    seed: int = 0,
    deadline: float | None = None,
    functional: bool = True,
) -> PowerResult:
    """Power iteration for ‖J_f(x)‖₂. ``functional=False`` goes straight to double-VJP (train mode)."""
    attempts: list[tuple[str, Callable[[], tuple[torch.Tensor, Fn, Fn]], contextlib.AbstractContextManager]] = []
    if functional:
        attempts.append(("jvp/vjp", lambda: _func_ops(f, x), contextlib.nullcontext()))
        attempts.append(("jvp/vjp+math-sdpa", lambda: _func_ops(f, x), _math_sdpa()))
    attempts.append(("double-vjp", lambda: _double_vjp_ops(f, x), _math_sdpa()))
    errors: list[str] = []
    for method, make, ctxm in attempts:
        try:
            with ctxm:
                y, j, jt = make()
                return _iterate(j, jt, x, y, method, max_iters, tol, seed, deadline)
        except (RuntimeError, NotImplementedError, TypeError) as exc:
            errors.append(f"{method}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    raise RuntimeError("local Jacobian norm failed: " + "; ".join(errors))


def _iterate(j: Fn, jt: Fn, x: torch.Tensor, y: torch.Tensor, method: str, max_iters: int, tol: float,
             seed: int, deadline: float | None) -> PowerResult:
    gen = torch.Generator(device=x.device if x.device.type != "meta" else "cpu").manual_seed(seed)
    v = torch.randn(x.shape, generator=gen, dtype=x.dtype, device=x.device)
    v = v / v.norm()
    est, prev, it, converged = 0.0, -1.0, 0, False
    with torch.no_grad():  # function transforms ignore an outer no_grad; autograd.grad reuses its graph
        for it in range(1, max_iters + 1):
            # normalise between J and Jᵀ: σ̂² = ‖Jv‖·‖Jᵀ(Jv/‖Jv‖)‖ cannot under/overflow where σ² would
            w = j(v)
            nw = _norm(w)
            if nw == 0.0 or not math.isfinite(nw):
                est, converged = (0.0, True) if nw == 0.0 else (math.inf, False)
                break
            v2 = jt(w / nw)
            n = _norm(v2)
            if n == 0.0 or not math.isfinite(n):
                est, converged = (0.0, True) if n == 0.0 else (math.inf, False)
                break
            est = math.sqrt(nw * n)
            v = (v2 / n).detach()
            if it >= 3 and abs(est - prev) <= tol * est:
                converged = True
                break
            prev = est
            if deadline is not None and time.perf_counter() > deadline:
                break
    return PowerResult(est, it, converged, method, _rms(x), _rms(y))
