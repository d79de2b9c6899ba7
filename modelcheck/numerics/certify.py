"""Verified upper bounds on σ_max(W) at the cost of one Gram product (THEORY §1.1).

Gram iteration needs k squarings of an n×n matrix to come within r^{1/2^{k+1}} of σ_max; on
random-init weights, whose top singular values crowd the Marchenko–Pastur edge, k = 5 is still 2-3%
high. Here the bound is *guessed* from below and then *proved*:

1. A = WᴴW (the smaller side), with a rigorous bound ``err`` on its rounding error,
   ‖fl(A) − A‖₂ ≤ γ‖W‖_F² (Higham, Thm 3.5: |Δ| ≤ γ_N|W|ᴴ|W| for any summation order). Large real
   weights are multiplied in float32 in blocks of ``BLOCK`` along the inner dimension, so that the
   order is ours: ``FLUSH`` blocks are summed in float32, their partial sums in float64, and γ is
   γ_{BLOCK+FLUSH} (float32) whatever the inner dimension, not γ_N; everything else is float64.
2. θ = the largest Ritz value of a Lanczos run on A (≤ λ_max(A), usually within 0.1%), or for
   small A its top eigenvalue from a dense solver.
3. μ = θ(1 + tol) is proved to exceed λ_max(A) when a floating-point Cholesky factorisation of
   (μ − α)I − A succeeds, with α = c·(n+1)u·tr(μI − A) (Rump 2006, "Verification of positive
   definiteness", BIT 46; c = 2, or 4 for complex, is a safety factor on his constant). ``tol``
   grows ×2.5 until it does (a retry factorises only the matrices that failed, so the steps can be
   fine); Gram iteration on A is the fallback, itself certified.

So σ_max(W)² ≤ μ + slack + err: a proof, not an estimate, for the cost of the product plus
n³/3 for the factorisation.
"""

from __future__ import annotations

import math

import torch

from modelcheck.numerics.threads import threads_for

BLOCK = 256  # the largest inner-dimension block of the float32 product (see _inner_block),
FLUSH = 8  # and how many are summed in float32 before a float64 sum: γ_{BLOCK+FLUSH} for any depth
ROWS = 256  # row block of the lower triangle
REDO_ABOVE = 0.01  # a rounding bound above this fraction of λ is redone in float64
LANCZOS_STEPS = 20
SMALL_STACK_BYTES = 2**23  # same-shape weights stacked into one batch up to this size,
STACK_EACH_BYTES = 2**20  # or whatever their number when each is this small
EIGH_UP_TO = 192  # below this size a dense eigvalsh is cheaper than Lanczos
GRAM_MARGIN = 1 + 1e-9  # floating-point rounding in float64 Gram products
_TOLS = (3e-3, 8e-3, 2e-2, 5e-2, 0.13, 0.4, 2.0)  # on λ: the first proves σ within 0.15% of the guess
_U32 = 2.0**-24
_U64 = 2.0**-53
FLOAT32_ABOVE = 2e7  # flops of the product above which real weights are multiplied in float32


def gram_bound_batched(mats: torch.Tensor, iters: int = 8) -> torch.Tensor:
    """Certified upper bounds on σ_max of each matrix in ``mats[..., m, n]`` (real or complex), within
    a factor r^{1/2^(iters+1)} of it for r equal top singular values: the certificate's fallback."""
    complex_in = mats.is_complex()
    g = mats.detach().to(torch.complex128 if complex_in else torch.float64)
    batch_shape = g.shape[:-2]
    g = g.reshape(-1, g.shape[-2], g.shape[-1])
    if g.numel() == 0:
        return torch.zeros(batch_shape, dtype=torch.float64)
    # Rescale W itself first so that WᵀW cannot overflow; log_c tracks G_t = exp(log_c)·H_t.
    f0 = torch.linalg.matrix_norm(g, ord="fro").clamp_min(1e-300)
    g = g / f0[:, None, None]
    g = g.mH @ g if g.shape[-2] >= g.shape[-1] else g @ g.mH
    log_c = 2 * torch.log(f0)
    for _ in range(iters - 1):
        f = torch.linalg.matrix_norm(g, ord="fro").clamp_min(1e-300)
        g = g / f[:, None, None]
        log_c = 2 * (log_c + torch.log(f))
        g = g @ g  # Hermitian PSD: GᴴG = G·G
    fro = torch.linalg.matrix_norm(g, ord="fro")
    out = torch.exp((log_c + torch.log(fro.clamp_min(1e-300))) / 2**iters)
    out = torch.where(fro > 0, out, torch.zeros_like(out)) * GRAM_MARGIN
    return out.reshape(batch_shape)



def gamma(n: int, u: float) -> float:
    """Higham's γ_n = nu/(1 − nu): the relative error of an n-term inner product, any order."""
    nu = n * u
    return nu / (1 - nu) if nu < 0.5 else math.inf


def gram(w: torch.Tensor, float64: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(A, err, extra) for ``w[b, r, c]``: A = the smaller Gram matrix in float64/complex128,
    ‖fl(A) − WᴴW‖₂ ≤ err, and σ_max(W) ≤ √(λ_max(WᴴW)) + extra (the rounding of W to float32)."""
    w = w.detach()
    if w.shape[-2] < w.shape[-1]:
        w = w.mH  # inner dimension first: A = wᴴw is (c, c) with c the smaller side
    b, inner, n = w.shape
    flops = 2.0 * b * inner * n * n
    if float64 or w.is_complex() or flops < FLOAT32_ABOVE:
        x = w.to(torch.complex128 if w.is_complex() else torch.float64)
        a = x.mH @ x
        g = gamma(inner + 2, _U64 * (2 if w.is_complex() else 1))
        return a, _trace_err(a, g), torch.zeros(b, dtype=torch.float64)
    extra = torch.zeros(b, dtype=torch.float64)
    if w.dtype == torch.float64:  # e.g. a weight with BatchNorm folded in: ‖W − fl32(W)‖₂ ≤ u‖W‖_F
        extra = _U32 * torch.linalg.matrix_norm(w, ord="fro") * (1 + 1e-12)
    x = w.to(torch.float32)
    block = _inner_block(n)
    starts = range(0, inner, block)
    acc = torch.zeros(b, n, n, dtype=torch.float32)
    # the float32 partials of a deep product (a 50257×768 output embedding: 393 blocks) are summed in
    # float64: with γ_{BLOCK+blocks} their bound passed 1% of λ and forced a float64 product 4x slower
    total = torch.zeros(b, n, n, dtype=torch.float64) if len(starts) > FLUSH else None
    # block rows of the lower triangle only (A is symmetric): k(k+1)/2 of k² products
    rows = [(r, min(r + ROWS, n)) for r in range(0, n, ROWS)]
    for i, start in enumerate(starts):  # slices, not a reshape: a transposed weight is not copied
        blk = x[:, start:start + block]
        for r0, r1 in rows:
            acc[:, r0:r1, :r1].baddbmm_(blk[:, :, r0:r1].mT, blk[:, :, :r1])
        if total is not None and (i + 1) % FLUSH == 0:
            for r0, r1 in rows:
                total[:, r0:r1, :r1] += acc[:, r0:r1, :r1]
                acc[:, r0:r1, :r1].zero_()
    if total is not None:
        for r0, r1 in rows:
            total[:, r0:r1, :r1] += acc[:, r0:r1, :r1]
        acc = total
    for i, (r0, r1) in enumerate(rows):  # mirror the blocks above the diagonal: the same sums
        for c0, c1 in rows[:i]:
            acc[:, c0:c1, r0:r1] = acc[:, r0:r1, c0:c1].mT
    a = acc.to(torch.float64)
    # each entry: float32 sums of at most FLUSH BLOCK-term dot products, γ_{BLOCK+FLUSH} (u32), then a
    # float64 sum of the partials, γ_{partials}(u64) on a sum of magnitudes at most (1 + γ32)|W|ᴴ|W|
    g32 = gamma(min(block, inner) + min(FLUSH, len(starts)) + 1, _U32)
    err = _trace_err(a, g32 + gamma(len(starts) // FLUSH + 2, _U64) * (1 + g32))
    return a, err, extra


def _inner_block(n: int) -> int:
    """The largest block (≤ BLOCK) whose bound γ_{block+FLUSH}‖W‖_F² stays under REDO_ABOVE·λ for any
    spectrum: ‖W‖_F² ≤ n·σ_max², so n·γ ≤ REDO_ABOVE means no float64 product, even for an orthogonal
    weight. Smaller blocks cost more calls: 256 up to n = 512, 128 for GPT-2's 768."""
    block = BLOCK
    while block > 32 and n * gamma(block + FLUSH + 1, _U32) > REDO_ABOVE:
        block //= 2
    return block


def _trace_err(a: torch.Tensor, g: float) -> torch.Tensor:
    """γ‖W‖_F² ≥ ‖fl(WᴴW) − WᴴW‖₂ (|Δ| ≤ γ|W|ᴴ|W| entrywise), with ‖W‖_F² ≤ tr(fl(WᴴW))/(1 − γ)."""
    trace = a.diagonal(dim1=-2, dim2=-1).real.sum(-1)
    return g * trace / (1 - g) * (1 + 1e-12)


def ritz_max(a: torch.Tensor, steps: int = LANCZOS_STEPS) -> torch.Tensor:
    """Largest Ritz value of a Lanczos run with full reorthogonalisation on each ``a[b]`` (Hermitian):
    a lower bound on λ_max that converges fast at the edge of a spectrum.

    Every 4 steps from the 8th, a guess that moved by more than 3e-4 is still converging (the first
    Cholesky test allows 3e-3). Once at most half of the batch is, those go on alone, up to
    ``2 * steps``: a guess 1% low would cost a second factorisation and a looser bound, and the
    matrices that settled would cost a product each step for nothing."""
    b, n = a.shape[0], a.shape[-1]
    k = min(n, 2 * steps)
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(b, n, generator=gen, dtype=torch.float64).to(a.dtype) + 1
    q = q / torch.linalg.vector_norm(q, dim=-1, keepdim=True)
    basis = torch.zeros(b, k, n, dtype=a.dtype)
    alpha = torch.zeros(b, k, dtype=torch.float64)
    beta = torch.zeros(b, k, dtype=torch.float64)
    out = torch.zeros(b, dtype=torch.float64)
    theta = torch.zeros(b, dtype=torch.float64)
    active = torch.arange(b)
    tiny = 1e-13 if a.dtype in (torch.float64, torch.complex128) else 1e-6  # breakdown: an invariant subspace
    for j in range(k):
        basis[:, j] = q
        v = (a @ q[..., None])[..., 0]
        alpha[:, j] = (q.conj() * v).sum(-1).real
        # full reorthogonalisation, twice ("twice is enough"): once, the basis loses orthogonality as
        # Ritz values converge on a narrow spectrum (a wide random matrix, 300×5000) and θ overshoots
        # λ_max up to 16-fold: still proved by the Cholesky test, but a σ bound 4x too loose
        for _ in range(2):
            v = v - (basis[:, : j + 1].mT @ (basis[:, : j + 1].conj() @ v[..., None]))[..., 0]
        nrm = torch.linalg.vector_norm(v, dim=-1)
        beta[:, j] = nrm
        q = torch.where(nrm[:, None] > tiny * alpha[:, j].abs().clamp_min(1e-300)[:, None], v / nrm.clamp_min(1e-300)[:, None], 0)
        if j + 1 < 8 or (j + 1) % 4 and j + 1 < k:
            continue
        prev, theta = theta, _top_ritz(alpha[:, : j + 1], beta[:, : j + 1])
        out[active] = theta
        moving = torch.nonzero((theta - prev > 3e-4 * theta.abs()) & (beta[:, j] > 0)).flatten()
        if moving.numel() == 0:
            break
        if moving.numel() * 2 <= active.numel():  # the rest settled: copying half beats carrying it
            active, a, q, theta = active[moving], a[moving], q[moving], theta[moving]
            basis, alpha, beta = basis[moving], alpha[moving], beta[moving]
    return out


def _guess(a: torch.Tensor) -> torch.Tensor:
    """A Lanczos guess at λ_max in single precision: each step reads all of ``a``, so float32 halves a
    run that memory bandwidth bounds (ResNet-50's and GPT-2's Grams), and a guess needs ~1e-4, not 1e-16:
    the Cholesky test in float64 is the proof."""
    single = torch.complex64 if a.is_complex() else torch.float32
    return ritz_max(a.to(single)).to(torch.float64)


def _top_ritz(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    t = torch.diag_embed(alpha) + torch.diag_embed(beta[:, :-1], 1) + torch.diag_embed(beta[:, :-1], -1)
    return _eigvalsh(t)[:, -1]


def _eigvalsh(a: torch.Tensor) -> torch.Tensor:
    """Eigenvalues of a batch of small Hermitian matrices on one thread: LAPACK's reduction of a 192×192
    matrix gains nothing from a second one (idle, six of them: 6.1 against 7.4 ms), and with the other
    core busy the batch waited for it, 20x longer."""
    with threads_for(0.0):
        return torch.linalg.eigvalsh(a)


def max_eig_bound(a: torch.Tensor) -> torch.Tensor:
    """Verified upper bounds on λ_max of the Hermitian PSD matrices whose lower triangles are
    ``a[b]`` (float64/complex128): the Cholesky test reads only that triangle."""
    b, n = a.shape[0], a.shape[-1]
    out = torch.full((b,), math.inf, dtype=torch.float64)
    diag = a.diagonal(dim1=-2, dim2=-1).real
    trace = diag.sum(-1)
    out[trace <= 0] = 0.0  # a PSD matrix with zero trace is zero
    todo = trace > 0
    if not bool(todo.any()):
        return out
    top = float(diag.amax())
    if not 1e-150 < top < 1e150:  # keep Rump's underflow term negligible: an exact power-of-two rescale
        scale = 2.0 ** round(math.log2(top))
        return max_eig_bound(a / scale) * scale
    # small matrices: the exact top eigenvalue costs less than a Lanczos run and lets the first
    # test be tight to rounding; larger ones: a Lanczos guess
    guess, tols = (_eigvalsh(a)[:, -1], (1e-7, *_TOLS)) if n <= EIGH_UP_TO else (_guess(a), _TOLS)
    lo = torch.maximum(guess, trace / n)  # λ_max ≥ mean eigenvalue
    u = _U64 * (2 if a.is_complex() else 1)
    c = (4 if a.is_complex() else 2) * gamma(n + 1, _U64)
    for tol in tols:
        idx = torch.nonzero(todo).flatten()
        if idx.numel() == 0:
            break
        mu = lo[idx] * (1 + tol)
        m = -(a if idx.numel() == b else a[idx])
        sd = diag[idx]
        alpha = c * (n * mu - sd.sum(-1)).clamp_min(0) + 1e-280
        m.diagonal(dim1=-2, dim2=-1).add_((mu - alpha)[:, None].to(m.dtype))
        _, info = torch.linalg.cholesky_ex(m)
        ok = info == 0
        slack = 2 * u * (mu + sd.abs().amax(-1))  # the rounding of μ − a_ii on the diagonal
        out[idx[ok]] = (mu + slack)[ok]
        todo[idx[ok]] = False
    if bool(todo.any()):  # never seen in practice; Gram iteration is certified too
        idx = torch.nonzero(todo).flatten()
        low = torch.tril(a[idx])
        out[idx] = gram_bound_batched(low + torch.tril(low, -1).mH) * (1 + 1e-9)
    return out


def sigma_bounds(w: torch.Tensor) -> torch.Tensor:
    """Verified upper bounds on σ_max of each ``w[b, r, c]`` (any float or complex dtype)."""
    return sigma_bounds_many([w])[0]


def w_bytes(ws: list[torch.Tensor]) -> int:
    return max(w.element_size() for w in ws)


def sigma_bounds_many(ws: list[torch.Tensor]) -> list[torch.Tensor]:
    """:func:`sigma_bounds` of several batches whose Gram matrices have one size (their smaller side:
    a 256×64 and a 64×512 weight both give 64×64): one product per shape (same-shape small weights
    stacked into one), then one Lanczos run and one Cholesky call for all of them. Each launch of
    the eigen-bound costs its batched steps' dispatch whatever the batch: per Gram size, not per
    weight shape, it is a third of ResNet-50's runs."""
    ws = [w.detach() for w in ws]
    sizes = [w.shape[0] for w in ws]
    if sum(w.numel() for w in ws) == 0:
        return [torch.zeros(k, dtype=torch.float64) for k in sizes]
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, w in enumerate(ws):
        by_shape.setdefault(tuple(w.shape[-2:]), []).append(i)
    batches: list[torch.Tensor] = []
    start = [0] * len(ws)  # ws[i]'s first row in the batches laid end to end: they keep by_shape's order
    rows = 0
    for idx in by_shape.values():
        group = [ws[i] for i in idx]
        each = group[0].shape[-2] * group[0].shape[-1] * w_bytes(group)
        if len(group) > 1 and (sum(w.numel() for w in group) * w_bytes(group) <= SMALL_STACK_BYTES
                               or each <= STACK_EACH_BYTES):
            # many small weights: one stacked product beats one call each (and one float64 concatenation)
            batches.append(torch.cat(group))
        else:
            batches.extend(group)
        for i in idx:
            start[i], rows = rows, rows + sizes[i]
    parts = [gram(b) for b in batches]
    a = torch.cat([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    err = torch.cat([p[1] for p in parts])
    extra = torch.cat([p[2] for p in parts])
    del parts
    lam = max_eig_bound(a)
    del a
    # float32's worst case is γ‖W‖_F², up to n·γ·σ² for a flat spectrum (orthogonal, identity):
    # where it would cost more than 1% of λ, multiply again in float64
    offsets = [0]
    for b in batches:
        offsets.append(offsets[-1] + b.shape[0])
    for j, b in enumerate(batches):
        lo, hi = offsets[j], offsets[j + 1]
        redo = torch.nonzero(err[lo:hi] > REDO_ABOVE * lam[lo:hi]).flatten()
        if redo.numel():
            a64, e64, x64 = gram(b[redo], float64=True)
            err[lo + redo], extra[lo + redo], lam[lo + redo] = e64, x64, max_eig_bound(a64)
    out = torch.sqrt(lam + err) * (1 + 2 * _U64) + extra
    return [out[s:s + k] for s, k in zip(start, sizes)]
