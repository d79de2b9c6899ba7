"""Certified bounds on a convolution's ℓ2 operator norm on its actual input (THEORY §1.1).

:func:`conv_bound` takes the min of
- the reshape bound √(∏m_i)·‖K_mat‖ (m_i: taps reading one input element per axis) — always, and
  exact for 1×1 and patchify convs, where it is the only one computed;
- the FFT bound on the padded grid (Araujo et al. 2021; exact for circular padding, Sedghi et al.
  2019): ‖K̂(ω)‖ certified at every frequency, when within the flop budget;
- otherwise, in 2-D, the four-reshape bound (Singla & Feizi 2021), when within the budget.
Groups: max over groups; transposed convs use the conv they are the adjoint of.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple, Sequence

import torch

from modelcheck.numerics import spectral

# flops per conv for each of the FFT and four-reshape bounds: "fast" keeps a lint within its time
# budget (tiny convs only); "tight" gives the FFT bound to a ResNet-50's 3×3 convs (~20 s)
CONV_BUDGET = {"fast": 3e8, "tight": 3e10}


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
    p = list(padding) if isinstance(padding, (tuple, list)) else [int(padding)] * r  # type: ignore[arg-type,call-overload]
    return [(int(x), int(x)) for x in p]


def as_tuple(x: object, r: int) -> tuple[int, ...]:
    return tuple(int(v) for v in x) if isinstance(x, (tuple, list)) else (int(x),) * r  # type: ignore[arg-type,call-overload]


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
    budget: float = CONV_BUDGET["fast"],
    bound: Callable[[torch.Tensor], float] = spectral.max_bound,
) -> ConvBound:
    """Certified bound on the conv operator's ℓ2 norm. For a transposed conv pass its *output* size as
    ``input_size`` (the input of the conv it is the adjoint of). ``budget`` (flops) caps each of the
    FFT and four-reshape bounds; the reshape bound is always computed. ``bound`` certifies a batch
    of matrices (max σ_max): :func:`modelcheck.numerics.spectral.max_bound`, or a batching ``Certifier``'s."""
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

    # (b) reshape bound: every input element is used by at most m_i taps per axis. Exact (up to the
    # certificate) when no two taps share an input (1×1, patchify): nothing else can do better.
    m = reuse_counts(kernel, s, d)
    kmat = wg.reshape(g, out_c // g, -1)
    parts["conv:reshape"] = math.sqrt(math.prod(m)) * bound(kmat) * pad_factor
    if math.prod(m) == 1 and pad_factor == 1.0:
        return ConvBound(parts["conv:reshape"], "conv:reshape", parts)

    # (d) FFT on the padded grid (zero padding), or exact on the input grid (circular padding): the
    # tightest for random kernels, so it goes first and the reshapes below only stand in for it
    if input_size is not None and len(input_size) == r:
        try:
            fft = _fft_bound(wg, kernel, d, pads, [int(n) for n in input_size], padding_mode, budget, bound)
        except MemoryError:
            fft, note = None, "FFT bound skipped (too large)"
        if fft is not None:
            parts["conv:fft"] = fft * (1.0 if padding_mode in ("zeros", "constant", "circular") else pad_factor)
        elif not note:
            note = "FFT bound skipped (over budget)"

    # (c) 2-D: the other three reshapes of Singla & Feizi (valid for stride and dilation: sub-sampled
    # / interleaved stride-1 convs), when there is no FFT bound and they fit the budget
    if r == 2 and "conv:fft" not in parts:
        kh, kw = kernel
        o, i = out_c // g, in_g
        shapes = {
            "r1": (o * kh, i * kw), "r2": (o * kw, i * kh), "r4": (o * kh * kw, i),
        }
        if all(_gram_flops(g, *sh) <= budget for sh in shapes.values()):
            r1 = wg.permute(0, 1, 3, 2, 4).reshape(g, o * kh, i * kw)
            r2 = wg.permute(0, 1, 4, 2, 3).reshape(g, o * kw, i * kh)
            r4 = wg.permute(0, 1, 3, 4, 2).reshape(g, o * kh * kw, i)
            best = min(bound(r1), bound(r2), parts["conv:reshape"] / math.sqrt(math.prod(m)) / pad_factor, bound(r4))
            parts["conv:fantastic4"] = math.sqrt(kh * kw) * best * pad_factor
    method = min(parts, key=parts.__getitem__)
    return ConvBound(parts[method], method, parts, note)


def _gram_flops(batch: int, rows: int, cols: int) -> float:
    n = min(rows, cols)
    return 2.0 * batch * rows * cols * n + batch * n**3


def _fft_bound(wg: torch.Tensor, kernel: Sequence[int], dil: Sequence[int], pads: Sequence[tuple[int, int]],
               size: Sequence[int], padding_mode: str, budget: float,
               bound: Callable[[torch.Tensor], float]) -> float | None:
    g, o, i = int(wg.shape[0]), int(wg.shape[1]), int(wg.shape[2])
    ext = [dl * (k - 1) + 1 for k, dl in zip(kernel, dil)]
    if padding_mode == "circular":
        if any(pl + pr > e - 1 for (pl, pr), e in zip(pads, ext)):
            return None  # outputs wrap more than once: not a restriction of the circulant
        grid = list(size)
    else:
        grid = [max(n + pl + pr, e) for n, (pl, pr), e in zip(size, pads, ext)]
    nfreq = math.prod(grid[:-1]) * (grid[-1] // 2 + 1)
    cells = math.prod(grid)
    # the FFT of every kernel slice on the grid, then a complex Gram per frequency
    flops = 5.0 * g * o * i * cells * math.log2(max(cells, 2)) + 4.0 * nfreq * _gram_flops(g, o, i)
    bytes_needed = 16.0 * nfreq * g * o * i + 8.0 * g * o * i * cells
    if flops > budget or bytes_needed > 6e8:
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
    return max(bound(mats[start:start + chunk]) for start in range(0, mats.shape[0], chunk))


def _product(ranges: Sequence[range]) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = [()]
    for rg in ranges:
        out = [p + (v,) for p in out for v in rg]
    return out
