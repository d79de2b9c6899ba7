"""The activation registry (modelcheck.numerics.activations): each row's columns agree with each other and with
torch, and the passes and rules read it."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from modelcheck.numerics import activations, gaussian

_GRID = torch.linspace(-12, 12, 2_400_001, dtype=torch.float64)
# rows with no φ of their own (the signal pass does not evaluate them): their torch function
_ELEMENTWISE = {"linear": lambda t: t, "abs": torch.abs, "neg": torch.neg, "sin": torch.sin, "cos": torch.cos,
                "erf": torch.erf}
_CERTIFIED = sorted(n for n, r in activations.TABLE.items() if r.lipschitz is not None)


def _phi(name: str):
    row = activations.TABLE[name]
    return (lambda t: row.phi(t, {})) if row.phi is not None else _ELEMENTWISE[name]


@pytest.mark.parametrize("name", _CERTIFIED)
def test_the_lipschitz_constant_is_the_max_derivative(name: str) -> None:
    x = _GRID.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(_phi(name)(x).sum(), x)
    measured = float(g.abs().max())
    c = activations.TABLE[name].lipschitz
    assert c is not None and c >= measured  # an upper bound...
    assert c <= measured * 1.0001 + 1e-9  # ...and a tight one


@pytest.mark.parametrize(("name", "torch_fn"), [
    ("relu", F.relu), ("gelu", F.gelu), ("gelu_tanh", lambda t: F.gelu(t, approximate="tanh")), ("silu", F.silu),
    ("mish", F.mish), ("selu", F.selu), ("tanh", torch.tanh), ("sigmoid", torch.sigmoid), ("softsign", F.softsign),
    ("hardswish", F.hardswish), ("leaky_relu", F.leaky_relu), ("elu", F.elu), ("softplus", F.softplus),
])
def test_phi_is_torchs_function(name: str, torch_fn) -> None:
    x = torch.linspace(-6, 6, 1001, dtype=torch.float64)
    assert torch.equal(activations.TABLE[name].phi(x, {}), torch_fn(x))


@pytest.mark.parametrize(("name", "attrs", "expected"), [
    ("leaky_relu", {"negative_slope": 0.2}, lambda t: F.leaky_relu(t, 0.2)),
    ("prelu", {}, lambda t: F.leaky_relu(t, 0.25)),
    ("hardtanh", {"min_val": -2.0, "max_val": 3.0}, lambda t: F.hardtanh(t, -2.0, 3.0)),
    ("softshrink", {"lambd": 1.5}, lambda t: F.softshrink(t, 1.5)),
])
def test_phi_reads_the_nodes_attributes(name: str, attrs: dict, expected) -> None:
    x = torch.linspace(-6, 6, 1001, dtype=torch.float64)
    assert torch.equal(gaussian.activation_fn(name, attrs)(x), expected(x))  # type: ignore[misc]


@pytest.mark.parametrize("name", sorted(n for n, r in activations.TABLE.items() if r.phi is not None))
def test_phi_is_smooth_away_from_its_kinks(name: str) -> None:
    # φ′ jumps nowhere but at the declared kinks: a second difference far from them stays small
    row = activations.TABLE[name]
    x = torch.linspace(-8, 8, 16001, dtype=torch.float64)
    h = float(x[1] - x[0])
    y = row.phi(x, {})
    d2 = (y[2:] - 2 * y[1:-1] + y[:-2]).abs() / h / (1 + y[1:-1].abs())  # relative: exp grows
    near = torch.zeros_like(d2, dtype=torch.bool)
    for k in row.kinks({}):
        near |= (x[1:-1] - k).abs() < 2 * h
    assert float(d2[~near].max()) < 0.05, name


@pytest.mark.parametrize("name", sorted(n for n, r in activations.TABLE.items() if r.absmax is not None))
def test_absmax_bounds_phi(name: str) -> None:
    row = activations.TABLE[name]
    assert row.absmax is not None
    y = _phi(name)(_GRID)
    assert float(y.abs().max()) <= row.absmax({}) <= float(y.abs().max()) + 0.1  # sigmoid's sup is a limit
    if name == "hardtanh":  # the bound follows the attributes: a wider hardtanh is not bounded by 1
        assert row.absmax({"min_val": -2.0, "max_val": 3.0}) == 3.0


def test_the_derived_sets_and_labels() -> None:
    assert activations.RELU == {"relu", "relu6"}
    assert activations.SATURATING == {"sigmoid", "tanh", "hardtanh", "softsign"}
    assert [activations.label(n) for n in ("relu", "gelu_tanh", "swish", "not_an_activation", None)] == [
        "ReLU", "GELU", "swish", "not_an_activation", "a linear output"]
    assert gaussian.is_homogeneous("leaky_relu") and not gaussian.is_homogeneous("gelu")
    assert gaussian.kinks("relu6") == (0.0, 6.0) and gaussian.kinks("gelu") == () and gaussian.kinks(None) == ()
    assert gaussian.activation_fn("abs") is None and gaussian.activation_fn("nope") is None
    assert math.isclose(activations.TABLE["erf"].lipschitz or 0.0, 2 / math.sqrt(math.pi), rel_tol=1e-9)
