"""Sharpness: HVP power iteration recovers known top eigenvalues (plain, shifted, preconditioned, FD)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn as nn

from modelcheck.probe import ProbeOptions, run_probe
from modelcheck.probe.sharpness import (
    HessianOperator,
    power_iteration,
    random_vector,
    top_eigenvalue,
)
from modelcheck.probe.stability import SharpnessTracker, loss_rose, schedule
from modelcheck.probe.task import make_optimizer, make_task


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def spd(n: int, seed: int, spectrum: torch.Tensor | None = None) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    ev = spectrum if spectrum is not None else torch.linspace(0.1, 5.0, n, dtype=torch.float64)
    return (q * ev) @ q.T


def test_power_iteration_on_a_matrix() -> None:
    a = spd(30, 0, torch.cat([torch.linspace(0.1, 2.0, 29), torch.tensor([7.0])]).double())
    est = power_iteration(lambda v: [a @ v[0]], [torch.ones(30, dtype=torch.float64)], iters=200, tol=1e-10)
    assert est.converged and est.value == pytest.approx(7.0, rel=1e-6)


def test_negative_dominant_eigenvalue_is_shifted_away() -> None:
    a = spd(20, 1, torch.cat([torch.tensor([-9.0]), torch.linspace(0.5, 3.0, 19)]).double())
    est = top_eigenvalue(lambda v: [a @ v[0]], [torch.ones(20, dtype=torch.float64)], iters=400, tol=1e-10)
    assert est.value == pytest.approx(3.0, rel=1e-4)


def quadratic(a: torch.Tensor) -> tuple[nn.Parameter, callable]:
    theta = nn.Parameter(torch.randn(a.shape[0], dtype=torch.float64))
    return theta, lambda: 0.5 * theta @ (a @ theta)


def test_hessian_of_a_quadratic() -> None:
    a = spd(25, 2, torch.cat([torch.linspace(0.1, 3.0, 24), torch.tensor([11.0])]).double())
    theta, loss = quadratic(a)
    op = HessianOperator(loss, [theta])
    est = top_eigenvalue(op, [torch.randn(25, dtype=torch.float64)], iters=300, tol=1e-10)
    assert op.method == "autograd"
    assert est.value == pytest.approx(11.0, rel=1e-6)


def test_finite_difference_fallback_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelcheck.probe import sharpness

    def unsupported(*args: object, **kwargs: object) -> None:
        raise RuntimeError("double backward not implemented")

    monkeypatch.setattr(sharpness, "_autograd_operator", unsupported)
    a = spd(10, 3, torch.cat([torch.linspace(0.1, 1.0, 9), torch.tensor([4.0])]).double())
    theta, loss = quadratic(a)
    before = theta.detach().clone()
    op = HessianOperator(loss, [theta])
    est = top_eigenvalue(op, [torch.randn(10, dtype=torch.float64)], iters=300, tol=1e-10)
    assert op.method == "finite-difference"
    assert est.value == pytest.approx(4.0, rel=1e-4)
    assert torch.allclose(theta.detach(), before, atol=1e-12)  # shifted and shifted back


def test_adam_preconditioned_sharpness_matches_dense() -> None:
    torch.manual_seed(0)
    a = spd(12, 4)
    theta, loss = quadratic(a)
    opts = ProbeOptions(optimizer="adam", lr=1e-2, hvp_iters=500, hvp_tol=1e-10)
    opt = make_optimizer([theta], opts)
    for _ in range(3):
        opt.zero_grad()
        loss().backward()
        opt.step()
    check = SharpnessTracker(opts, [theta], opt, loss).check(3)
    v = opt.state[theta]["exp_avg_sq"] / (1 - 0.999**3)
    d = ((1 - 0.9**3) * (v.sqrt() + 1e-8)).rsqrt()
    dense = torch.linalg.eigvalsh(d[:, None] * a * d[None, :])[-1].item()
    assert check.value == pytest.approx(dense, rel=1e-5)


def test_probe_sharpness_of_linear_regression_is_the_known_eigenvalue() -> None:
    # MSE of y = W x over B x O outputs: H = (2 / (B O)) (X^T X) (x) I, so lambda_max = 2 lambda_max(X^T X) / (B O).
    torch.manual_seed(0)
    model = nn.Linear(6, 3, bias=False)
    opts = ProbeOptions(steps=1, optimizer="sgd", lr=1e-3, progress=False, sharpness_checks=1, device="cpu",
                        hvp_iters=200, hvp_tol=1e-9)
    example = (torch.randn(20, 6),)
    result = run_probe(model, example, None, (), opts)
    x = make_task(model, example, opts, torch.device("cpu")).inputs[0].double()  # the probe's batch
    expected = 2.0 * torch.linalg.eigvalsh(x.T @ x)[-1].item() / (20 * 3)
    assert result.sharpness is not None and result.sharpness.kind == "hessian"
    assert result.sharpness.checks[0].value == pytest.approx(expected, rel=1e-4)
    assert result.sharpness.threshold == pytest.approx(2.0 / 1e-3)
    assert result.sharpness.verdict == "stable"


def test_too_large_sgd_lr_is_reported_unstable() -> None:
    torch.manual_seed(0)
    model = nn.Linear(6, 3, bias=False)
    opts = ProbeOptions(steps=30, optimizer="sgd", lr=5.0, progress=False, sharpness_checks=3, device="cpu")
    result = run_probe(model, (torch.randn(20, 6),), None, (), opts)
    assert result.sharpness.verdict == "unstable"
    unstable = [f for f in result.findings if f.name == "probe-unstable-lr"]
    assert len(unstable) == 1 and unstable[0].severity.value == "warning"
    assert "2/lr = 0.4" in unstable[0].message
    # only what the probe measured: the sharpness against the threshold at its own lr, never a
    # "largest stable lr" (the sharpness cannot back one: benchmarks/lr_truth.py)
    assert "largest" not in unstable[0].message and "while the loss rose (sgd, lr 5)" in unstable[0].message
    assert set(unstable[0].numbers) == {"sharpness", "threshold", "lr"} and unstable[0].numbers["lr"] == 5.0
    assert "below 5 " in (unstable[0].fix or "")


def test_schedule_and_loss_rose() -> None:
    assert schedule(ProbeOptions(steps=50, optimizer="sgd")) == (0, 24, 48)
    assert schedule(ProbeOptions(steps=50, optimizer="adam")) == (10, 29, 48)
    assert schedule(ProbeOptions(steps=3, optimizer="adam")) == (1,)
    assert schedule(ProbeOptions(steps=12, optimizer="sgd")) == (0, 10)
    assert schedule(ProbeOptions(steps=50, sharpness_checks=0)) == ()
    assert loss_rose([1.0, 0.5, 2.0]) and loss_rose([1.0, float("nan")]) and not loss_rose([1.0, 0.9, 0.8])


def test_random_vector_is_seeded() -> None:
    p = [nn.Parameter(torch.zeros(3, 4))]
    a = random_vector(p, torch.Generator().manual_seed(5))
    b = random_vector(p, torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and a[0].shape == (3, 4)


def test_edge_of_stability_is_a_note_not_a_finding() -> None:
    torch.manual_seed(0)
    example = (torch.randn(20, 6),)
    probe_opts = ProbeOptions(steps=12, optimizer="sgd", progress=False, sharpness_checks=2, device="cpu",
                              hvp_iters=200, hvp_tol=1e-9)
    x = make_task(nn.Linear(6, 3, bias=False), example, probe_opts, torch.device("cpu")).inputs[0].double()
    top = 2.0 * torch.linalg.eigvalsh(x.T @ x)[-1].item() / (20 * 3)
    lr = 1.95 / top  # just inside 2/lr: sharpness ~ threshold, loss still falls
    torch.manual_seed(0)
    result = run_probe(nn.Linear(6, 3, bias=False), example, None, (),
                       dataclasses.replace(probe_opts, lr=lr))
    assert result.sharpness.verdict == "edge"
    assert not any(f.name == "probe-unstable-lr" for f in result.findings)
    assert any(n.startswith("probe: edge of stability") for n in result.notes)
