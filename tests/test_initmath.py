"""initmath against THEORY §4.2's derived gain table, closed forms, Monte Carlo and torch itself."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from modelcheck.numerics import gains as im

# THEORY §4.2: φ -> (g = 1/√E[φ²], g_c = 1/√Var φ, χ at g), measured at z ~ N(0, 1).
THEORY_TABLE = {
    "relu": (1.4142, 1.7129, 1.000),
    "gelu": (1.5335, 1.7009, 1.072),
    "silu": (1.6765, 1.7872, 1.067),
    "mish": (1.4869, 1.5920, 1.059),
    "hardswish": (1.7367, 1.8139, 1.081),
    "elu": (1.2452, 1.2708, 1.036),
    "selu": (1.0000, 1.0000, 1.072),
    "tanh": (1.5925, 1.5925, 1.178),
    "sigmoid": (1.8462, 4.80, 0.153),
    "softplus": (1.0419, 1.919, 0.319),
}


@pytest.mark.parametrize("fn", sorted(THEORY_TABLE))
def test_gain_table_matches_theory(fn: str) -> None:
    g, g_c, chi = THEORY_TABLE[fn]
    assert im.ideal_gain(fn) == pytest.approx(g, abs=2e-4)
    assert im.centred_gain(fn) == pytest.approx(g_c, rel=1e-3)
    got = im.ideal_gain(fn)
    assert im.chi(fn, got * got) == pytest.approx(chi, abs=1.5e-3)


def test_tanh_at_five_thirds_is_chaotic() -> None:
    q_star = im.fixed_point("tanh", (5 / 3) ** 2)
    assert q_star == pytest.approx(1.18, abs=5e-3)
    assert im.chi("tanh", (5 / 3) ** 2, q_star) == pytest.approx(1.21, abs=5e-3)


def test_gelu_gain_depends_on_scale() -> None:
    assert im.ideal_gain("gelu", q=1e-6) == pytest.approx(2.0, rel=1e-4)
    assert im.ideal_gain("gelu", q=1e6) == pytest.approx(math.sqrt(2), rel=1e-4)
    assert im.ideal_gain("relu", q=1e-6) == im.ideal_gain("relu", q=1e6)  # homogeneous: one gain


def test_relu_expectations_are_exact() -> None:
    # Kinks are panel boundaries: the step derivative and the half-normal mean come out exact.
    assert im.expect("relu", 1.0, kind="dphi2") == pytest.approx(0.5, abs=1e-13)
    assert im.expect("relu", 1.0, kind="phi") == pytest.approx(1 / math.sqrt(2 * math.pi), abs=1e-12)
    assert im.expect("relu", 4.0, kind="phi2") == pytest.approx(2.0, abs=1e-12)


@pytest.mark.parametrize("rho", [-0.9, -0.3, 0.0, 0.5, 0.99])
def test_relu_cross_moment_is_the_arccosine_kernel(rho: float) -> None:
    q = 2.0
    kernel = q / (2 * math.pi) * (math.sqrt(1 - rho * rho) + (math.pi - math.acos(rho)) * rho)
    assert im.expect("relu", q, kind="phi_phi_corr", rho=rho) == pytest.approx(kernel, abs=1e-9)


@pytest.mark.parametrize("mu,sd", [(-1.5, 1.0), (0.7, 0.3), (-0.2, 2.0)])
def test_relu_with_a_mean_matches_the_closed_form(mu: float, sd: float) -> None:
    q = mu * mu + sd * sd
    a = mu / sd
    pdf = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    assert im.expect("relu", q, mu=mu, kind="dphi2") == pytest.approx(im.active_fraction(mu, sd), abs=1e-12)
    assert im.expect("relu", q, mu=mu, kind="phi") == pytest.approx(mu * im.active_fraction(mu, sd) + sd * pdf,
                                                                     abs=1e-12)


@pytest.mark.parametrize("fn,q,mu", [("gelu", 0.3, 0.0), ("silu", 2.5, 0.5), ("hardswish", 4.0, -1.0),
                                     ("relu6", 30.0, 2.0), ("elu", 1.0, -0.5), ("tanh", 3.0, 1.0)])
def test_expectations_agree_with_monte_carlo(fn: str, q: float, mu: float) -> None:
    gen = torch.Generator().manual_seed(0)
    u = mu + math.sqrt(q - mu * mu) * torch.randn(2_000_000, generator=gen, dtype=torch.float64)
    u.requires_grad_(True)
    phi = {"gelu": nn.functional.gelu, "silu": nn.functional.silu, "hardswish": nn.functional.hardswish,
           "relu6": nn.functional.relu6, "elu": nn.functional.elu, "tanh": torch.tanh}[fn]
    y = phi(u)
    (dy,) = torch.autograd.grad(y.sum(), u)
    y = y.detach()
    for kind, mc in (("phi2", y.pow(2).mean()), ("dphi2", dy.pow(2).mean()), ("phi", y.mean())):
        assert im.expect(fn, q, mu=mu, kind=kind) == pytest.approx(float(mc), rel=5e-3, abs=2e-3), kind


def test_cross_moment_agrees_with_monte_carlo() -> None:
    gen = torch.Generator().manual_seed(1)
    q, rho = 1.7, 0.6
    z1, z2 = torch.randn(2, 2_000_000, generator=gen, dtype=torch.float64)
    u1, u2 = math.sqrt(q) * z1, math.sqrt(q) * (rho * z1 + math.sqrt(1 - rho * rho) * z2)
    mc = float((nn.functional.gelu(u1) * nn.functional.gelu(u2)).mean())
    assert im.expect("gelu", q, kind="phi_phi_corr", rho=rho) == pytest.approx(mc, rel=5e-3)


@pytest.mark.parametrize("fn,attrs", [("relu", None), ("tanh", None), ("sigmoid", None), ("selu", None),
                                      ("linear", None), ("leaky_relu", {"negative_slope": 0.01}),
                                      ("leaky_relu", {"negative_slope": 0.2})])
def test_torch_gain_matches_calculate_gain(fn: str, attrs: dict | None) -> None:
    param = (attrs or {}).get("negative_slope")
    assert im.torch_gain(fn, attrs) == pytest.approx(nn.init.calculate_gain(fn, param))


def test_torch_has_no_gelu_gain() -> None:
    with pytest.raises(ValueError):
        nn.init.calculate_gain("gelu")
    assert im.torch_gain("gelu") is None


def test_leaky_relu_gain_is_variance_preserving() -> None:
    attrs = {"negative_slope": 0.2}
    assert im.ideal_gain("leaky_relu", attrs) == pytest.approx(im.torch_gain("leaky_relu", attrs), rel=1e-10)


@pytest.mark.parametrize("p", [0.01, 0.1, 0.5, 0.9])
def test_normal_quantile(p: float) -> None:
    want = float(torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(p, dtype=torch.float64)))
    assert im.normal_quantile(p) == pytest.approx(want, abs=1e-9)
    assert im.active_fraction(im.normal_quantile(p), 1.0) == pytest.approx(p, abs=1e-12)


@pytest.mark.parametrize("module", [nn.Linear(48, 20), nn.Conv2d(8, 12, 3), nn.Conv2d(8, 12, (3, 5), groups=4),
                                    nn.ConvTranspose2d(8, 12, 4, stride=2), nn.Conv1d(6, 9, 5, groups=3),
                                    nn.Embedding(100, 16)])
def test_torch_fans_match_pytorch(module: nn.Module) -> None:
    w = module.weight
    fans = im.fans(tuple(w.shape), transposed=isinstance(module, nn.ConvTranspose2d),
                   groups=getattr(module, "groups", 1), stride=getattr(module, "stride", None))
    assert (fans.torch_in, fans.torch_out) == nn.init._calculate_fan_in_and_fan_out(w)


def _interior_gain(module: nn.Module, x: torch.Tensor, crop: int) -> float:
    """E[y²]/(E[x²]·E[W²]) away from the borders: the forward fan."""
    with torch.no_grad():
        nn.init.normal_(module.weight, 0.0, 1.0)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
        y = module(x)[..., crop:-crop, crop:-crop]
    return float(y.pow(2).mean() / x.pow(2).mean() / module.weight.detach().pow(2).mean())


@pytest.mark.parametrize("module", [nn.Conv2d(8, 12, 3, groups=4), nn.Conv2d(6, 6, 5, stride=2),
                                    nn.ConvTranspose2d(8, 12, 4, stride=2), nn.ConvTranspose2d(8, 4, 3, stride=3),
                                    nn.ConvTranspose2d(6, 6, 3, stride=1, groups=2)])
def test_forward_fan_is_what_the_layer_sums(module: nn.Module) -> None:
    torch.manual_seed(0)
    x = torch.randn(8, module.in_channels, 48, 48)
    fans = im.fans(tuple(module.weight.shape), transposed=isinstance(module, nn.ConvTranspose2d),
                   groups=module.groups, stride=module.stride)
    assert _interior_gain(module, x, crop=6) == pytest.approx(fans.forward, rel=0.04)


def test_transposed_conv_torch_fan_differs_from_the_forward_fan() -> None:
    # THEORY §4.1: kaiming_normal_ (mode fan_in) uses C_out·k² for a ConvTranspose weight.
    fans = im.fans((16, 16, 4, 4), transposed=True, stride=2)
    assert fans.torch_in == 16 * 16 and fans.forward == 16 * 4


def test_layer_gains_are_sigma_over_ideal_gain() -> None:
    for fn, q in (("relu", 1.0), ("gelu", 0.4), ("tanh", 2.0), (None, 1.0)):
        g = im.ideal_gain(fn, q=q)
        fwd, bwd = im.layer_gains(fn, (0.8 * g) ** 2, q)
        assert fwd == pytest.approx(0.8, rel=1e-9)
        assert bwd == pytest.approx(math.sqrt(im.chi(fn, (0.8 * g) ** 2, q)), rel=1e-12)


def test_ideal_std_is_gain_over_root_fan() -> None:
    assert im.ideal_std("relu", 256) == pytest.approx(math.sqrt(2 / 256))
    assert im.ideal_std(None, 100) == pytest.approx(0.1)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        im.expect("relu", 1.0, kind="phi3")  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        im.expect("no_such_activation", 1.0)
    assert not im.is_known("no_such_activation") and im.is_known("gelu_tanh") and im.is_known(None)


def test_cached_and_fast() -> None:
    import time

    im.expect("silu", 0.731)
    t = time.perf_counter()
    for _ in range(1000):
        im.expect("silu", 0.731)
    assert time.perf_counter() - t < 0.05


@pytest.mark.parametrize(("rule", "n", "reference"), [
    ("hermite_e", 64, "hermegauss"),
    ("legendre", 12, "leggauss"),
    ("hermite_e", 7, "hermegauss"),
])
def test_gauss_rules_match_numpys(rule: str, n: int, reference: str) -> None:
    """The quadrature nodes come from torch's own LAPACK (numpy's starts OpenBLAS threads in each worker),
    and agree with numpy's rules to rounding, weights in relative terms even in the Hermite tails."""
    np = pytest.importorskip("numpy")
    from modelcheck.numerics.gaussian import gauss_rule

    if rule == "hermite_e":
        x, w = gauss_rule([math.sqrt(k) for k in range(1, n + 1)], math.sqrt(2 * math.pi))
    else:
        x, w = gauss_rule([k / math.sqrt(4 * k * k - 1) for k in range(1, n + 1)], 2.0)
    x0, w0 = getattr(getattr(np.polynomial, rule), reference)(n)
    x0, w0 = torch.tensor(x0), torch.tensor(w0)
    assert torch.allclose(x, x0, rtol=0, atol=1e-13)
    assert torch.all((w - w0).abs() <= 1e-12 * w0)
