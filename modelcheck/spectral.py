"""Spectral-norm bounds for weight operators (THEORY §1.1): certified upper bounds, never estimates.

- :func:`gram_bound` — Gram iteration (Delattre et al. 2023) in float64: σ_max(W) ≤ ‖G_k‖_F^{1/2^k}
  with G_1 = WᵀW (the smaller side), G_{t+1} = G_tᴴG_t, rescaled every step. Power iteration only
  ever gives a *lower* bound and is not used here.
- :func:`conv_bound` — the conv operator on its actual input: the min of the reshape bound
  √(∏m_i)·‖K_mat‖, the 2-D four-reshape bound (Singla & Feizi 2021) and the FFT bound on the padded
  grid (Araujo et al. 2021; exact for circular padding, Sedghi et al. 2019). Groups: max over groups;
  transposed convs use the conv they are the adjoint of.
- :func:`random_matrix_norm` — the Bai–Yin estimate for iid entries, for meta models without weights.
"""

from __future__ import annotations

import math
import weakref
from typing import NamedTuple, Sequence

import torch

_MARGIN = 1 + 1e-9  # floating-point rounding in float64 Gram products
_CACHE: dict[tuple, tuple[weakref.ref, float]] = {}
FLOP_BUDGET = 1.6e10  # per weight (~0.5 s of float64 on 2 cores); above it the cheaper certified bound is used


def gram_iters(rows: int, cols: int, batch: int = 1) -> int:
    """Squarings k: tighter for small matrices (overshoot ≤ r^{1/2^{k+1}}), fewer when costly."""
    m = max(min(rows, cols), 1)
    if m <= 64:
        k = 12
    elif m <= 256:
        k = 10
    elif m <= 512:
        k = 7
    elif m <= 4096:
        k = 5  # +1–3% on random-init 768×3072 / 4096² weights (k=6: +0.3–1.5%, THEORY §1.1) at 15% less cost
    else:
        k = 4
    per_iter = 2.0 * batch * m**3
    affordable = int(FLOP_BUDGET / 4 / max(per_iter, 1.0))
    return max(4, min(k, affordable + 1))


def gram_bound_batched(mats: torch.Tensor, iters: int | None = None) -> torch.Tensor:
    """Certified upper bounds on σ_max of each matrix in ``mats[..., m, n]`` (real or complex)."""
    complex_in = mats.is_complex()
    g = mats.detach().to(torch.complex128 if complex_in else torch.float64)
    batch_shape = g.shape[:-2]
    g = g.reshape(-1, g.shape[-2], g.shape[-1])
    if g.numel() == 0:
        return torch.zeros(batch_shape, dtype=torch.float64)
    k = iters if iters is not None else gram_iters(g.shape[-2], g.shape[-1], g.shape[0])
    # Rescale W itself first so that WᵀW cannot overflow; log_c tracks G_t = exp(log_c)·H_t.
    f0 = torch.linalg.matrix_norm(g, ord="fro").clamp_min(1e-300)
    g = g / f0[:, None, None]
    g = g.mH @ g if g.shape[-2] >= g.shape[-1] else g @ g.mH
    log_c = 2 * torch.log(f0)
    for _ in range(k - 1):
        f = torch.linalg.matrix_norm(g, ord="fro").clamp_min(1e-300)
        g = g / f[:, None, None]
        log_c = 2 * (log_c + torch.log(f))
        g = g @ g  # Hermitian PSD: GᴴG = G·G
    fro = torch.linalg.matrix_norm(g, ord="fro")
    out = torch.exp((log_c + torch.log(fro.clamp_min(1e-300))) / 2**k)
    out = torch.where(fro > 0, out, torch.zeros_like(out)) * _MARGIN
    return out.reshape(batch_shape)


def gram_bound(mat: torch.Tensor, iters: int | None = None) -> float:
    """Certified σ_max upper bound of a 2-D matrix (cached per tensor and version)."""
    from modelcheck.capture import threads_for

    def compute() -> float:
        with threads_for(2.0 * mat.numel() * min(mat.shape)):
            return float(gram_bound_batched(mat[None], iters)[0])

    return _cached(mat, ("gram", iters), compute)


def cheap_bound(mat: torch.Tensor) -> float:
    """O(mn) certified bound min(‖W‖_F, √(‖W‖₁‖W‖_∞)) (Schur), for weights too big for Gram."""
    w = mat.detach().to(torch.float64).abs()
    fro = float(torch.linalg.matrix_norm(w, ord="fro"))
    schur = math.sqrt(float(w.sum(0).max()) * float(w.sum(1).max()))
    return min(fro, schur) * _MARGIN


def matrix_bound(mat: torch.Tensor) -> tuple[float, str]:
    """(bound, method) for a Linear-like weight: Gram unless its first product blows the budget."""
    rows, cols = int(mat.shape[0]), int(mat.numel() // max(mat.shape[0], 1))
    mat = mat.reshape(rows, cols)
    if 2.0 * rows * cols * min(rows, cols) > FLOP_BUDGET:
        return _cached(mat, ("cheap",), lambda: cheap_bound(mat)), "cheap(frobenius/schur)"
    return gram_bound(mat), "gram"


def random_matrix_norm(rows: int, cols: int, mean: float, std: float) -> float:
    """Bai–Yin estimate of σ_max for iid entries: |mean|·√(mn) (rank-one part) + std·(√m + √n)."""
    return abs(mean) * math.sqrt(rows * cols) + std * (math.sqrt(rows) + math.sqrt(cols))


def _cached(t: torch.Tensor, key: tuple, compute: "callable") -> float:  # type: ignore[valid-type]
    k = (id(t), t._version, t.data_ptr() if not t.is_meta else 0, tuple(t.shape), key)
    hit = _CACHE.get(k)
    if hit is not None and hit[0]() is t:
        return hit[1]
    value = compute()
    if len(_CACHE) > 4096:
        _CACHE.clear()
    _CACHE[k] = (weakref.ref(t), value)
    return value


# --- convolutions -----------------------------------------------------------------------------------


class ConvBound(NamedTuple):
    value: float
    method: str  # which bound was the smallest: "conv:fft", "conv:reshape", "conv:fantastic4"
    parts: dict[str, float]  # every bound computed, for the report and tests
    note: str = ""


def pad_copy_count(n: int, left: int, right: int, mode: str) -> int:
    """Max number of times one input element appears in the padded signal (‖P‖² for copy padding)."""
    if mode in ("zeros", "constant") or (left <= 0 and right <= 0):
        return 1
    counts = [1] * n
    for j in range(-left, n + right):
        if 0 <= j < n:
            continue
        if mode == "reflect":
            i = -j if j < 0 else 2 * (n - 1) - j
        elif mode == "replicate":
            i = 0 if j < 0 else n - 1
        else:  # circular
            i = j % n
        if 0 <= i < n:
            counts[i] += 1
    return max(counts)


def _pairs(padding: object, kernel: Sequence[int], dilation: Sequence[int]) -> list[tuple[int, int]]:
    r = len(kernel)
    if padding == "valid":
        return [(0, 0)] * r
    if padding == "same":
        tot = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return [(t // 2, t - t // 2) for t in tot]
    p = list(padding) if isinstance(padding, (tuple, list)) else [int(padding)] * r  # type: ignore[arg-type]
    return [(int(x), int(x)) for x in p]


def as_tuple(x: object, r: int) -> tuple[int, ...]:
    return tuple(int(v) for v in x) if isinstance(x, (tuple, list)) else (int(x),) * r  # type: ignore[arg-type]


def reuse_counts(kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]) -> list[int]:
    """Max number of window taps that read one input element, per axis: ⌈k/(s/gcd(s, d))⌉."""
    return [math.ceil(k / (st // math.gcd(st, dl))) for k, st, dl in zip(kernel, stride, dilation)]


def conv_bound(
    weight: torch.Tensor,
    *,
    stride: object = 1,
    padding: object = 0,
    dilation: object = 1,
    groups: int = 1,
    transposed: bool = False,
    input_size: Sequence[int] | None = None,
    padding_mode: str = "zeros",
) -> ConvBound:
    """Certified bound on the conv operator's ℓ2 norm. For a transposed conv pass its *output* size as
    ``input_size`` (the input of the conv it is the adjoint of)."""
    w = weight.detach()
    r = w.dim() - 2
    kernel = tuple(int(k) for k in w.shape[2:])
    s, d = as_tuple(stride, r), as_tuple(dilation, r)
    pads = _pairs(padding, kernel, d)
    # as a forward conv: (out, in/g, *k) — a transposed conv's weight already has that layout for its adjoint
    out_c, in_g = int(w.shape[0]), int(w.shape[1])
    g = max(int(groups), 1)
    wg = w.reshape(g, out_c // g, in_g, *kernel)
    parts: dict[str, float] = {}
    note = ""

    pad_factor = 1.0
    if padding_mode not in ("zeros", "constant") and input_size is not None:
        cnt = [pad_copy_count(int(n), pl, pr, padding_mode) for n, (pl, pr) in zip(input_size, pads)]
        pad_factor = math.sqrt(math.prod(cnt))
    elif padding_mode not in ("zeros", "constant"):
        pad_factor = math.sqrt(math.prod(max(pl, pr) + 1 for pl, pr in pads))  # replicate is the worst case

    # (b) reshape bound: every input element is used by at most m_i taps per axis
    m = reuse_counts(kernel, s, d)
    kmat = wg.reshape(g, out_c // g, -1)
    parts["conv:reshape"] = math.sqrt(math.prod(m)) * _max_gram(kmat) * pad_factor

    # (c) 2-D: the four reshapes of Singla & Feizi (valid for stride and dilation: sub-sampled /
    # interleaved stride-1 convs)
    if r == 2:
        kh, kw = kernel
        o, i = out_c // g, in_g
        r1 = wg.permute(0, 1, 3, 2, 4).reshape(g, o * kh, i * kw)
        r2 = wg.permute(0, 1, 4, 2, 3).reshape(g, o * kw, i * kh)
        r4 = wg.permute(0, 1, 3, 4, 2).reshape(g, o * kh * kw, i)
        best = min(_max_gram(r1), _max_gram(r2), _max_gram(kmat), _max_gram(r4))
        parts["conv:fantastic4"] = math.sqrt(kh * kw) * best * pad_factor

    # (d) FFT on the padded grid (zero padding), or exact on the input grid (circular padding)
    if input_size is not None and len(input_size) == r:
        try:
            fft = _fft_bound(wg, kernel, d, pads, [int(n) for n in input_size], padding_mode)
        except MemoryError:
            fft, note = None, "FFT bound skipped (too large)"
        if fft is not None:
            parts["conv:fft"] = fft * (1.0 if padding_mode in ("zeros", "constant", "circular") else pad_factor)
        elif not note:
            note = "FFT bound skipped (over budget)"
    method = min(parts, key=parts.__getitem__)
    return ConvBound(parts[method], method, parts, note)


def _max_gram(mats: torch.Tensor) -> float:
    return float(gram_bound_batched(mats).max()) if mats.numel() else 0.0


def _fft_bound(wg: torch.Tensor, kernel: Sequence[int], dil: Sequence[int], pads: Sequence[tuple[int, int]],
               size: Sequence[int], padding_mode: str) -> float | None:
    g, o, i = int(wg.shape[0]), int(wg.shape[1]), int(wg.shape[2])
    ext = [dl * (k - 1) + 1 for k, dl in zip(kernel, dil)]
    if padding_mode == "circular":
        if any(pl + pr > e - 1 for (pl, pr), e in zip(pads, ext)):
            return None  # outputs wrap more than once: not a restriction of the circulant
        grid = list(size)
    else:
        grid = [max(n + pl + pr, e) for n, (pl, pr), e in zip(size, pads, ext)]
    nfreq = math.prod(grid[:-1]) * (grid[-1] // 2 + 1)
    mn = min(o, i)
    flops = 8.0 * nfreq * g * (o * i * mn + mn**3 * 7)
    bytes_needed = 16.0 * nfreq * g * o * i + 8.0 * g * o * i * math.prod(grid)
    if flops > FLOP_BUDGET or bytes_needed > 6e8:
        return None
    # embed the (dilated) kernel on the grid; circular padding folds it mod the grid size
    k = torch.zeros(g, o, i, *grid, dtype=torch.float64)
    src = wg.to(torch.float64)
    idx = [torch.arange(kk) * dl for kk, dl in zip(kernel, dil)]
    if padding_mode == "circular":
        idx = [ix % n for ix, n in zip(idx, grid)]
    for pos in _product([range(kk) for kk in kernel]):
        at = tuple(int(ix[p]) for ix, p in zip(idx, pos))
        k[(slice(None),) * 3 + at] += src[(slice(None),) * 3 + tuple(pos)]
    spec = torch.fft.rfftn(k, dim=list(range(3, 3 + len(grid))))  # (g, o, i, *freq)
    del k
    mats = spec.reshape(g, o, i, -1).permute(0, 3, 1, 2).reshape(-1, o, i)
    chunk = max(1, int(4e7 // max(16 * o * i, 1)))
    best = 0.0
    for start in range(0, mats.shape[0], chunk):
        best = max(best, float(gram_bound_batched(mats[start:start + chunk], _fft_iters(o, i)).max()))
    return best


def _fft_iters(o: int, i: int) -> int:
    # Many small matrices: per-iteration overhead dominates, and the min over bounds keeps it tight.
    m = min(o, i)
    return 6 if m <= 16 else 5 if m <= 64 else 4


def _product(ranges: Sequence[range]) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = [()]
    for rg in ranges:
        out = [p + (v,) for p in out for v in rg]
    return out
