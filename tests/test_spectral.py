"""Certified spectral bounds (modelcheck.numerics.spectral): Gram ≥ exact SVD ≥ power iteration; every conv
bound ≥ the exact operator norm of the materialised conv Jacobian, over strides, paddings, dilations,
groups, transposition and dimensionality."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from modelcheck.numerics import certify, spectral
from modelcheck.numerics import conv_bounds as spectral_conv


@pytest.fixture(autouse=True)
def _one_thread():  # type: ignore[no-untyped-def]
    """Tiny tensors: OpenMP spin-waits on shared CI cores only slow them down."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TOL = 1 + 1e-6


def exact(mat: torch.Tensor) -> float:
    return float(torch.linalg.matrix_norm(mat.double(), 2))


def power_iteration(mat: torch.Tensor, iters: int = 100) -> float:
    m = mat.double()
    v = torch.randn(m.shape[1], dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for _ in range(iters):
        v = m.T @ (m @ v)
        v = v / v.norm()
    return float((m @ v).norm())


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 40),
    cols=st.integers(1, 40),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([1e-6, 1.0, 1e4]),
)
def test_gram_above_svd_above_power_iteration(rows: int, cols: int, seed: int, scale: float) -> None:
    w = torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale
    g, s, p = spectral.gram_bound(w), exact(w), power_iteration(w)
    assert g >= s / TOL
    assert s >= p / TOL
    assert g <= s * 1.01  # small matrices get enough iterations to be tight


def test_gram_tightens_with_iterations() -> None:
    w = torch.randn(200, 300, generator=torch.Generator().manual_seed(0))
    bounds = [float(spectral.gram_bound_batched(w[None], k)[0]) for k in (2, 4, 6, 8)]
    assert all(a >= b for a, b in zip(bounds, bounds[1:]))
    assert bounds[-1] >= exact(w) / TOL


@pytest.mark.parametrize("w", [torch.zeros(4, 5), torch.ones(3, 7), torch.eye(6) * 3, torch.eye(300)])
def test_certificate_on_degenerate_matrices(w: torch.Tensor) -> None:
    # Gram iteration's worst case (r equal singular values: overshoot r^(1/2^(k+1))) is the
    # certificate's best: Lanczos finds λ exactly and the first Cholesky test proves it. A flat
    # spectrum is float32's worst case (γ‖W‖_F² = nγσ²): it is kept under 1% of λ
    got, want = spectral.gram_bound(w), exact(w)
    assert want / TOL <= got <= want * 1.005 + 1e-300


@pytest.mark.parametrize("shape", [(3072, 768), (768, 2304), (512, 4608)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_certificate_on_large_weights_is_sound_and_tight(shape: tuple[int, int], dtype: torch.dtype) -> None:
    # large real weights take the blocked float32 product: its rounding must stay inside the bound
    w = (torch.randn(*shape, generator=torch.Generator().manual_seed(11)) * 0.02 + 0.01).to(dtype)
    got, want = spectral.gram_bound(w), exact(w)
    assert want / TOL <= got <= want * 1.01


def test_certificate_falls_back_to_gram_iteration(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelcheck.numerics import certify

    monkeypatch.setattr(certify, "_TOLS", ())  # no Cholesky test: Gram iteration on A must answer
    w = torch.randn(50, 30, generator=torch.Generator().manual_seed(12), dtype=torch.float64)
    got, want = float(certify.sigma_bounds(w[None])[0]), exact(w)
    assert want / TOL <= got <= want * 1.01


def test_complex_batched_gram() -> None:
    z = torch.randn(5, 4, 6, dtype=torch.complex128, generator=torch.Generator().manual_seed(3))
    got = spectral.gram_bound_batched(z)
    want = torch.linalg.matrix_norm(z, 2)
    assert torch.all(got >= want / TOL) and torch.all(got <= want * 1.01)


def test_cheap_bound_is_certified() -> None:
    w = torch.randn(60, 30, generator=torch.Generator().manual_seed(4))
    assert spectral.cheap_bound(w) >= exact(w) / TOL


def test_bai_yin_estimate_is_close_for_gaussian_matrices() -> None:
    w = torch.randn(400, 900, generator=torch.Generator().manual_seed(5)) * 0.02
    est = spectral.random_matrix_norm(400, 900, 0.0, 0.02)
    assert est == pytest.approx(exact(w), rel=0.05)


@pytest.mark.parametrize(
    ("n", "left", "right", "mode", "want"),
    [
        (5, 1, 1, "zeros", 1),
        (5, 1, 1, "reflect", 2),
        (5, 2, 2, "replicate", 3),
        (5, 2, 2, "circular", 2),
        (3, 2, 2, "reflect", 3),
    ],
)
def test_pad_copy_count(n: int, left: int, right: int, mode: str, want: int) -> None:
    assert spectral_conv.pad_copy_count(n, left, right, mode) == want


_CONV = {1: (F.conv1d, F.conv_transpose1d), 2: (F.conv2d, F.conv_transpose2d), 3: (F.conv3d, F.conv_transpose3d)}


def conv_operator_norm(w: torch.Tensor, size: tuple[int, ...], cin: int, transposed: bool, **kw: object) -> float:
    fn = _CONV[len(size)][1 if transposed else 0]
    x0 = torch.zeros((1, cin) + size, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda x: fn(x, w.double(), **kw).flatten(), x0, vectorize=True)
    return exact(jac.reshape(jac.shape[0], -1))


@settings(max_examples=40, deadline=None)
@given(
    dim=st.sampled_from([1, 2, 2, 3]),
    k=st.integers(1, 3),
    s=st.integers(1, 3),
    d=st.integers(1, 2),
    p=st.integers(0, 2),
    groups=st.sampled_from([1, 2]),
    transposed=st.booleans(),
    seed=st.integers(0, 999),
    n=st.integers(4, 7),
)
def test_conv_bounds_above_exact_norm(
    dim: int, k: int, s: int, d: int, p: int, groups: int, transposed: bool, seed: int, n: int
) -> None:
    if dim == 3:
        n = min(n, 4)
    gen = torch.Generator().manual_seed(seed)
    cin, cout = 2 * groups, 2 * groups
    if transposed:
        p = min(p, d * (k - 1))  # PyTorch's constraint for transposed convs
        w = torch.randn(cin, cout // groups, *([k] * dim), generator=gen, dtype=torch.float64)
        kw = dict(stride=s, padding=p, dilation=d, groups=groups)
        x_size = (n,) * dim
        out = _CONV[dim][1](torch.zeros((1, cin) + x_size, dtype=torch.float64), w, **kw)
        want = conv_operator_norm(w, x_size, cin, True, **kw)
        got = spectral_conv.conv_bound(w, transposed=True, input_size=tuple(out.shape[2:]), **kw)
    else:
        w = torch.randn(cout, cin // groups, *([k] * dim), generator=gen, dtype=torch.float64)
        kw = dict(stride=s, padding=p, dilation=d, groups=groups)
        if n + 2 * p < d * (k - 1) + 1:
            return
        want = conv_operator_norm(w, (n,) * dim, cin, False, **kw)
        got = spectral_conv.conv_bound(w, input_size=(n,) * dim, **kw)
    for name, value in got.parts.items():
        assert value >= want / TOL, (name, value, want)
    assert got.value == min(got.parts.values())


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_conv_bound_with_copy_padding(mode: str) -> None:
    conv = torch.nn.Conv2d(3, 4, 3, padding=1, padding_mode=mode).double()
    x0 = torch.zeros(1, 3, 6, 6, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda x: (conv(x) - conv.bias.view(1, -1, 1, 1)).flatten(), x0)
    want = exact(jac.reshape(jac.shape[0], -1))
    got = spectral_conv.conv_bound(conv.weight, padding=1, input_size=(6, 6), padding_mode=mode)
    assert got.value >= want / TOL
    if mode == "circular":  # Sedghi et al.: exact on the input grid
        assert got.parts["conv:fft"] == pytest.approx(want, rel=2e-3)  # the certificate proves λ within 0.3%


def test_patchify_and_pointwise_reshape_bound_is_exact() -> None:
    gen = torch.Generator().manual_seed(7)
    w = torch.randn(8, 3, 4, 4, generator=gen, dtype=torch.float64)  # ViT-style k = s
    want = conv_operator_norm(w, (8, 8), 3, False, stride=4)
    got = spectral_conv.conv_bound(w, stride=4, input_size=(8, 8))
    assert got.value == pytest.approx(want, rel=2e-3)  # the certificate proves λ within 0.3%
    w1 = torch.randn(5, 6, 1, 1, generator=gen, dtype=torch.float64)
    assert spectral_conv.conv_bound(w1, input_size=(4, 4)).value == pytest.approx(exact(w1.reshape(5, 6)), rel=2e-3)  # the certificate proves λ within 0.3%


def test_fft_bound_is_tight_for_stride_one() -> None:
    gen = torch.Generator().manual_seed(8)
    w = torch.randn(4, 3, 3, 3, generator=gen, dtype=torch.float64)
    want = conv_operator_norm(w, (10, 10), 3, False, padding=1)
    got = spectral_conv.conv_bound(w, padding=1, input_size=(10, 10))
    assert got.method == "conv:fft"
    assert want / TOL <= got.value <= want * 1.2


def test_conv_bound_without_input_size_uses_reshape_bounds() -> None:
    w = torch.randn(4, 3, 3, 3)
    got = spectral_conv.conv_bound(w, padding=1)
    assert "conv:fft" not in got.parts and math.isfinite(got.value)


def test_certificate_on_a_gpt2_sized_weight_is_within_half_a_percent() -> None:
    # Gram iteration with k = 5 was 2.5% high here: the Marchenko–Pastur edge is crowded
    w = torch.randn(3072, 768, generator=torch.Generator().manual_seed(10)) * 0.02
    exact_sigma = float(torch.linalg.eigvalsh(w.double().T @ w.double())[-1]) ** 0.5
    got = spectral.gram_bound(w)
    assert exact_sigma <= got <= exact_sigma * 1.005


@pytest.mark.parametrize("shape", [(2, 600, 513), (3, 768, 2304), (1, 256, 300)])
def test_blocked_gram_computes_the_lower_blocks_and_mirrors_them(shape: tuple[int, int, int]) -> None:
    from modelcheck.numerics import certify

    w = torch.randn(*shape, generator=torch.Generator().manual_seed(13)) * 0.05
    a, err, _ = certify.gram(w)
    x = w.double() if shape[-2] >= shape[-1] else w.double().mT
    ref = x.mT @ x
    assert torch.equal(a, a.mT)
    assert torch.all((a - ref).abs().amax((-2, -1)) <= err)


def test_lanczos_guess_passes_the_first_cholesky_test(monkeypatch: pytest.MonkeyPatch) -> None:
    # 20 steps leave some MLP-shaped Grams ~1% low: the run goes on until the guess settles, so
    # one factorisation proves every bound of the batch
    from modelcheck.numerics import certify

    w = torch.randn(4, 768, 3072, generator=torch.Generator().manual_seed(14)) * 0.02
    a = certify.gram(w)[0]
    calls = []
    real = torch.linalg.cholesky_ex
    monkeypatch.setattr(torch.linalg, "cholesky_ex", lambda m: calls.append(m.shape[0]) or real(m))
    lam, top = certify.max_eig_bound(a), torch.linalg.eigvalsh(a)[:, -1]
    assert calls == [4]
    assert torch.all(top <= lam) and torch.all(lam <= top * (1 + 4e-3))


@pytest.mark.parametrize("shape", [(4, 300, 5000), (4, 256, 4096)])
def test_certificate_on_wide_weights_is_tight(shape: tuple[int, int, int]) -> None:
    # a narrow Marchenko–Pastur spectrum: Lanczos with one reorthogonalisation lost orthogonality
    # there, its guess overshot λ_max up to 16-fold and the proved bound was ~4x σ_max
    w = torch.randn(*shape, generator=torch.Generator().manual_seed(0)) * 0.02
    sigma = torch.linalg.matrix_norm(w.double(), 2)
    got = certify.sigma_bounds(w)
    assert torch.all(sigma <= got) and torch.all(got <= sigma * 1.005)


def test_weights_of_several_shapes_share_one_eigen_bound_run() -> None:
    """Grams of one size from weights of different shapes (tall, wide, stacked small ones) are certified
    in one run; each answer lands on its own weight, above its σ_max and within 1% of it."""
    gen = torch.Generator().manual_seed(3)
    ws = [
        torch.randn(3, 256, 64, generator=gen),  # small: stacked with the next one of its shape
        torch.randn(2, 256, 64, generator=gen) * 5.0,
        torch.randn(1, 64, 700, generator=gen) * 0.1,  # wide: the Gram of its rows, 64x64 too
        torch.randn(1, 96, 64, generator=gen) * 30.0,
    ]
    got = certify.sigma_bounds_many(ws)
    assert [g.shape[0] for g in got] == [3, 2, 1, 1]
    for w, bound in zip(ws, got):
        sigma = torch.linalg.matrix_norm(w.double(), ord=2)
        assert torch.all(bound >= sigma)
        assert torch.all(bound <= sigma * 1.01)


def test_deep_product_is_certified_without_a_float64_product(monkeypatch: pytest.MonkeyPatch) -> None:
    """A GPT-2-sized output embedding (50257×768): float32 partials summed in float64 keep the rounding
    bound under 1% of λ, so no second product in float64 (4x the time) is taken, and the bound is tight."""
    from modelcheck.numerics import certify

    w = torch.randn(1, 50257, 768, generator=torch.Generator().manual_seed(15)) * 0.02
    calls: list[bool] = []
    real = certify.gram
    monkeypatch.setattr(certify, "gram", lambda m, float64=False: calls.append(float64) or real(m, float64))
    got = float(certify.sigma_bounds(w)[0])
    x = w[0].double()
    sigma = float(torch.linalg.eigvalsh(x.mT @ x)[-1]) ** 0.5
    assert calls == [False]
    assert sigma <= got <= sigma * 1.005


def test_small_dense_eigenproblems_run_on_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """A second thread gains nothing on batches of small matrices and waits for a busy core (ResNet-50's
    passes: 0.92 s against 1.18-1.47 s with the other core taken); the thread count comes back after."""
    from modelcheck.numerics import certify

    seen: list[int] = []
    real = torch.linalg.eigvalsh
    monkeypatch.setattr(torch.linalg, "eigvalsh", lambda a: seen.append(torch.get_num_threads()) or real(a))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        w = torch.randn(3, 150, 100, generator=torch.Generator().manual_seed(16))  # Gram 100×100: dense
        got = certify.sigma_bounds(w)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen and set(seen) == {1}
    assert torch.all(got >= torch.linalg.matrix_norm(w.double(), ord=2))
