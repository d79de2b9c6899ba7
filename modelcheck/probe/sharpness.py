"""Curvature: the top Hessian eigenvalue by Hessian-vector-product power iteration (THEORY §6).

:class:`HessianOperator` builds v -> H v for the training loss at the current parameters: one forward and
one ``create_graph`` backward, then one double backward per product (the graph is kept, so dropout draws
stay fixed within a check). Where double backward is unsupported (fused attention kernels, cuDNN RNNs)
it falls back to central finite differences of the gradient, H v ~ (g(t + h v) - g(t - h v)) / 2h,
with parameters shifted in place and shifted back.

For Adam the quantity is the preconditioned sharpness lambda_max(P^-1 H), P = (1 - b1^t) diag(sqrt(v_hat)
+ eps), computed as the top eigenvalue of the symmetric D H D with D = P^-1/2 (Cohen et al. 2022).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch

Vec = list[torch.Tensor]
Operator = Callable[[Vec], Vec]


def _dot(a: Vec, b: Vec) -> float:
    """<a, b> with one device->host read (not one per tensor)."""
    if not a:
        return 0.0
    dev = a[0].device
    parts = [torch.dot(x.reshape(-1).float(), y.reshape(-1).float()).to(dev) for x, y in zip(a, b)]
    return float(torch.stack(parts).sum())


def _norm(a: Vec) -> float:
    return math.sqrt(max(_dot(a, a), 0.0))


def _scale(a: Vec, c: float) -> Vec:
    return [x * c for x in a]


@dataclass
class Estimate:
    value: float
    iterations: int
    converged: bool
    vector: Vec


def power_iteration(op: Operator, v0: Vec, *, iters: int = 20, tol: float = 1e-3, shift: float = 0.0) -> Estimate:
    """Top eigenvalue of ``op - shift * I`` (plus ``shift``) by power iteration from ``v0``.

    Stops when the Rayleigh quotient changes by less than ``tol`` relative. Power iteration finds the
    eigenvalue of largest magnitude; :func:`top_eigenvalue` shifts when that one is negative.
    """
    n = _norm(v0)
    v = _scale(v0, 1.0 / n) if n > 0 else v0
    value, prev = math.nan, math.nan
    for k in range(1, iters + 1):
        w = op(v)
        if shift:
            w = [wi - shift * vi for wi, vi in zip(w, v)]
        value = _dot(v, w)
        wn = _norm(w)
        if not math.isfinite(wn) or wn == 0.0:
            return Estimate(value + shift, k, wn == 0.0, v)
        v = _scale(w, 1.0 / wn)
        if math.isfinite(prev) and abs(value - prev) <= tol * max(abs(value), 1e-30):
            return Estimate(value + shift, k, True, v)
        prev = value
    return Estimate(value + shift, iters, False, v)


def top_eigenvalue(op: Operator, v0: Vec, *, iters: int = 20, tol: float = 1e-3) -> Estimate:
    """The largest (most positive) eigenvalue; if the dominant one is negative, shift it away and redo."""
    est = power_iteration(op, v0, iters=iters, tol=tol)
    if est.value < 0 and math.isfinite(est.value):
        again = power_iteration(op, v0, iters=iters, tol=tol, shift=est.value)
        return Estimate(again.value, est.iterations + again.iterations, again.converged, again.vector)
    return est


@contextlib.contextmanager
def _math_attention() -> Iterator[None]:
    """Fused SDPA kernels have no double backward; the math kernel does."""
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:  # older torch: nothing to switch
        yield
        return
    with sdpa_kernel([SDPBackend.MATH]):
        yield


class HessianOperator:
    """v -> D H D v at the current parameters; ``diag(v)`` multiplies by D (None = identity).

    D is applied by a function rather than stored, so Adam's preconditioner costs no parameter-sized copy.

    ``method`` is "autograd" (double backward) or "finite-difference" (the fallback, chosen on the first
    product that raises).
    """

    def __init__(self, loss_fn: Callable[[], torch.Tensor], params: Sequence[torch.Tensor],
                 diag: Callable[[Vec], Vec] | None = None) -> None:
        self._loss_fn, self._params, self._diag = loss_fn, list(params), diag
        self._first = True
        try:
            self._op: Operator = _autograd_operator(loss_fn, self._params, diag)
            self.method = "autograd"
        except RuntimeError:
            self._fallback()

    def _fallback(self) -> None:
        self._op = _fd_operator(self._loss_fn, self._params, self._diag)
        self.method = "finite-difference"

    def __call__(self, v: Vec) -> Vec:
        if self._first and self.method == "autograd":
            self._first = False
            try:
                return self._op(v)
            except RuntimeError:
                self._fallback()
        return self._op(v)


def _autograd_operator(loss_fn: Callable[[], torch.Tensor], params: Vec,
                       diag: Callable[[Vec], Vec] | None) -> Operator:
    with _math_attention():
        loss = loss_fn()
        grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
    live = [i for i, g in enumerate(grads) if g is not None and g.requires_grad]
    if not live:
        raise RuntimeError("the loss is linear in the parameters: no second derivative graph")

    def op(v: Vec) -> Vec:
        u = diag(v) if diag is not None else v
        with _math_attention():
            hv = torch.autograd.grad([grads[i] for i in live], [params[i] for i in live],
                                     grad_outputs=[u[i] for i in live], retain_graph=True, allow_unused=True)
        out = [torch.zeros_like(p) for p in params]
        for i, h in zip(live, hv):
            if h is not None:
                out[i] = h.detach()
        return diag(out) if diag is not None else out

    return op


def _fd_operator(loss_fn: Callable[[], torch.Tensor], params: Vec,
                 diag: Callable[[Vec], Vec] | None) -> Operator:
    scale = _norm([p.detach() for p in params]) / math.sqrt(max(sum(p.numel() for p in params), 1))
    h = 1e-3 * max(scale, 1e-3)
    state = torch.random.get_rng_state()
    cuda_state = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None

    def grad_at(v: Vec, c: float) -> Vec:
        with torch.no_grad():
            torch._foreach_add_([p.data for p in params], v, alpha=c)
        torch.random.set_rng_state(state)  # the same dropout draws at both points
        if cuda_state is not None:
            torch.cuda.set_rng_state_all(cuda_state)
        try:
            gs = torch.autograd.grad(loss_fn(), params, allow_unused=True)
        finally:
            with torch.no_grad():
                torch._foreach_add_([p.data for p in params], v, alpha=-c)
        return [torch.zeros_like(p) if g is None else g.detach() for p, g in zip(params, gs)]

    def op(v: Vec) -> Vec:
        u = diag(v) if diag is not None else v
        plus, minus = grad_at(u, h), grad_at(u, -h)
        out = [(a - b) / (2 * h) for a, b in zip(plus, minus)]
        return diag(out) if diag is not None else out

    return op


def random_vector(params: Sequence[torch.Tensor], generator: torch.Generator) -> Vec:
    """A start vector drawn on the CPU (device-independent), moved to each parameter's device."""
    return [torch.randn(tuple(p.shape), generator=generator, dtype=torch.float32).to(p.device, p.dtype)
            for p in params]
