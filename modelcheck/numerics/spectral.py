"""Spectral-norm bounds for weight matrices (THEORY §1.1): certified upper bounds, never estimates.

- :func:`gram_bound` / :func:`max_bound` — one Gram product, a Lanczos guess and a Cholesky proof
  (:mod:`modelcheck.numerics.certify`): within ~0.3% of σ_max. Power iteration only ever gives a *lower*
  bound and is not used on its own.
- :func:`gram_bound_batched` (from :mod:`~modelcheck.numerics.certify`) — Gram iteration (Delattre et al. 2023) in float64: σ_max(W) ≤
  ‖G_k‖_F^{1/2^k} with G_1 = WᵀW, G_{t+1} = G_tᴴG_t, rescaled every step: the certificate's fallback.
- :func:`cheap_bound` — O(mn) Frobenius/Schur bound for weights whose Gram product is over budget.
- :func:`random_matrix_norm` — the Bai–Yin estimate for iid entries, for meta models without weights.

Convolutions: :mod:`modelcheck.numerics.conv_bounds`.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from modelcheck.numerics import certify
from modelcheck.numerics.certify import GRAM_MARGIN as _MARGIN
from modelcheck.numerics.certify import gram_bound_batched  # noqa: F401  (re-exported: part of this API)
from modelcheck.numerics.threads import threads_for

_CACHE: dict[tuple, tuple[torch.Tensor, float]] = {}
FLOP_BUDGET = 1.6e10  # per weight's Gram product (~0.1 s of float32 on 2 cores); above it, cheap_bound



def gram_bound(mat: torch.Tensor) -> float:
    """Certified σ_max upper bound of a 2-D matrix (:mod:`modelcheck.numerics.certify`; cached per tensor)."""
    def compute() -> float:
        with threads_for(2.0 * mat.numel() * min(mat.shape)):
            return float(certify.sigma_bounds(mat[None])[0])

    return _cached(mat, ("gram",), compute)


def max_bound(mats: torch.Tensor) -> float:
    """max over ``mats[..., m, n]`` of certified σ_max bounds (0 for an empty batch)."""
    if mats.numel() == 0:
        return 0.0
    return float(certify.sigma_bounds(mats.reshape(-1, mats.shape[-2], mats.shape[-1])).max())


def cheap_bound(mat: torch.Tensor) -> float:
    """O(mn) certified bound min(‖W‖_F, √(‖W‖₁‖W‖_∞)) (Schur), for weights too big for Gram."""
    w = mat.detach()
    if w.dtype not in (torch.float32, torch.float64):
        w = w.to(torch.float32)  # exact for half types
    # float32 sums of n non-negative terms are within γ_n of the exact ones (any order); the norm
    # adds the squares' and the square root's roundings
    u = 2.0**-24 if w.dtype == torch.float32 else 2.0**-53
    rows, cols = w.shape
    fro2 = float(torch.linalg.vector_norm(w)) ** 2 * (1 + certify.gamma(rows * cols + 4, u))
    w = w.abs()
    col = float(w.sum(0).max()) * (1 + certify.gamma(rows, u))
    row = float(w.sum(1).max()) * (1 + certify.gamma(cols, u))
    return min(math.sqrt(fro2), math.sqrt(col * row)) * _MARGIN


def matrix_bound(mat: torch.Tensor, bound: Callable[[torch.Tensor], float] | None = None) -> tuple[float, str]:
    """(bound, method) for a Linear-like weight: Gram unless its first product blows the budget.
    ``bound`` answers the Gram case (a :class:`~modelcheck.numerics.certifier.Certifier`'s ``max_bound``)."""
    rows, cols = int(mat.shape[0]), int(mat.numel() // max(mat.shape[0], 1))
    mat = mat.reshape(rows, cols)
    if 2.0 * rows * cols * min(rows, cols) > FLOP_BUDGET:
        return _cached(mat, ("cheap",), lambda: cheap_bound(mat)), "cheap(frobenius/schur)"
    return (bound(mat[None]) if bound is not None else gram_bound(mat)), "gram"


def random_matrix_norm(rows: int, cols: int, mean: float, std: float) -> float:
    """Bai–Yin estimate of σ_max for iid entries: |mean|·√(mn) (rank-one part) + std·(√m + √n)."""
    return abs(mean) * math.sqrt(rows * cols) + std * (math.sqrt(rows) + math.sqrt(cols))


def _cached(t: torch.Tensor, key: tuple, compute: Callable[[], float]) -> float:
    """Memo by storage, shape, strides and version (weights are detached views: new objects each
    time). The entry holds the tensor, so its memory cannot be reused while the entry lives;
    :func:`clear_cache` ends a pass."""
    k = (t.data_ptr() if not t.is_meta else id(t), tuple(t.shape), t.stride(), t.dtype, t._version, key)
    hit = _CACHE.get(k)
    if hit is not None:
        return hit[1]
    value = compute()
    if len(_CACHE) > 4096:
        _CACHE.clear()
    _CACHE[k] = (t, value)
    return value


def clear_cache() -> None:
    _CACHE.clear()
