"""Adam effective-step series (Chen et al. 2019): slopes, subset sampling, frozen share."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from modelcheck.probe import ProbeOptions, run_probe
from modelcheck.probe.adam import AdamTracker, loglog_slope
from modelcheck.probe.measure import Collector
from modelcheck.probe.task import make_optimizer


@pytest.mark.parametrize("power", [0.5, 1.0, 2.0])
def test_loglog_slope_of_a_power_law(power: float) -> None:
    t = list(range(1, 41))
    assert loglog_slope(t, [3.0 * x**power for x in t]) == pytest.approx(power, rel=1e-9)


def test_loglog_slope_needs_points() -> None:
    assert loglog_slope([1, 2], [1.0, 2.0]) is None
    assert loglog_slope([1, 2, 3, 4, 5, 6], [0.0] * 6) is None


def test_subset_is_bounded_and_covers_parameters() -> None:
    model = nn.Sequential(nn.Linear(100, 100), nn.Linear(100, 50))
    params = list(model.parameters())
    opts = ProbeOptions(adam_subset=500)
    tracker = AdamTracker(make_optimizer(params, opts), params, opts)
    assert 450 < tracker.subset <= 500  # sampled with replacement, duplicates dropped
    small = AdamTracker(make_optimizer(params, ProbeOptions()), params, ProbeOptions())
    assert small.subset == sum(p.numel() for p in params)


def test_series_follow_their_definitions() -> None:
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(5))
    dead = nn.Parameter(torch.randn(3))  # used with weight 0: zero gradient, sqrt(v_hat) = 0 < eps
    opts = ProbeOptions(lr=0.1)
    opt = make_optimizer([w, dead], opts)
    tracker = AdamTracker(opt, [w, dead], opts)
    etas = []
    for step in range(6):
        opt.zero_grad()
        ((w - 1.0).pow(2).sum() + 0.0 * dead.sum()).backward()
        grad = torch.cat([w.grad, dead.grad]).clone()
        opt.step()
        col = Collector()
        tracker.queue(step, col)
        tracker.record(step, col.flush())
        v = torch.cat([opt.state[w]["exp_avg_sq"], opt.state[dead]["exp_avg_sq"]]) / (1 - 0.999 ** (step + 1))
        eta = 0.1 / (1 - 0.9 ** (step + 1)) / (v.sqrt() + 1e-8)
        etas.append((eta, grad))
    a = sum(float((e * g).pow(2).sum()) for e, g in etas)
    b = sum(float((etas[i][0] - etas[i - 1][0]).abs().sum()) for i in range(1, 6))
    s = sum(float(e.min()) for e, _ in etas)
    assert tracker.t == [1, 2, 3, 4, 5, 6]
    assert tracker.a[-1] == pytest.approx(a, rel=1e-5) and tracker.b[-1] == pytest.approx(b, rel=1e-5)
    assert tracker.s[-1] == pytest.approx(s, rel=1e-5)
    assert tracker.frac_below_eps() == pytest.approx(3 / 8)


def test_probe_reports_adam_series() -> None:
    torch.manual_seed(0)
    result = run_probe(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2)), (torch.randn(8, 8),), None,
                       (), ProbeOptions(steps=15, progress=False, sharpness_checks=0, device="cpu"))
    adam = result.adam
    assert adam is not None and adam.t == tuple(range(1, 16))
    assert all(x <= y for x, y in zip(adam.a, adam.a[1:])) and all(x <= y for x, y in zip(adam.s, adam.s[1:]))
    assert adam.slope_s is not None and math.isfinite(adam.slope_s)
    sgd = run_probe(nn.Linear(4, 2), (torch.randn(4, 4),), None, (),
                    ProbeOptions(steps=3, optimizer="sgd", progress=False, sharpness_checks=0,
                                 device="cpu"))
    assert sgd.adam is None
