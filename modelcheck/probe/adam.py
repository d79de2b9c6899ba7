"""Adam's effective step sizes (Chen, Liu, Sun & Hong, ICLR 2019; THEORY §6).

With the bias-corrected step alpha_t = lr / (1 - b1^t) and eta_t = alpha_t / (sqrt(v_hat_t) + eps) the
per-coordinate effective step, on a random subset of at most ``adam_subset`` parameters:

    A_T = sum_t ||eta_t * g_t||^2             (variance-like term)
    B_T = sum_t ||eta_t - eta_(t-1)||_1       (effective-step oscillation, bias-like term)
    S_T = sum_t min_j eta_t,j                 (the progress term)

Convergence needs A_T + B_T = o(S_T). The run is flagged as *oscillating* when the log-log slope of B_T
(or A_T) against t is >= 0.9 while S_T grows more slowly (its slope is lower by more than 0.1). The share
of parameters with sqrt(v_hat) < eps is how vanishing gradients look under Adam: those barely move.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from modelcheck.probe.measure import Collector
from modelcheck.probe.records import AdamReport, ProbeOptions

SLOPE_FLAG = 0.9
SLOPE_MARGIN = 0.1


def loglog_slope(t: Sequence[int], y: Sequence[float]) -> float | None:
    """Least-squares slope of log y on log t over the second half of the points (y > 0 only)."""
    pts = [(math.log(a), math.log(b)) for a, b in zip(t, y) if a > 0 and b > 0 and math.isfinite(b)]
    pts = pts[len(pts) // 2 :]
    if len(pts) < 3:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    if sxx == 0:
        return None
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx


class AdamTracker:
    """Reads the optimizer state after each step; increments go through the step's :class:`Collector`."""

    def __init__(self, optimizer: torch.optim.Optimizer, params: Sequence[torch.nn.Parameter],
                 options: ProbeOptions) -> None:
        self.optimizer, self.params, self.options = optimizer, list(params), options
        self.b1, self.b2 = options.betas
        self.eps = options.eps
        self._index = self._subset(options.adam_subset, torch.Generator().manual_seed(options.seed + 15485863))
        self._prev: torch.Tensor | None = None
        self.t: list[int] = []
        self.a: list[float] = []
        self.b: list[float] = []
        self.s: list[float] = []

    @property
    def subset(self) -> int:
        return sum(int(i.numel()) for i in self._index)

    def _subset(self, k: int, generator: torch.Generator) -> list[torch.Tensor]:
        """Per parameter, the flat indices of the sampled coordinates (all of them when few)."""
        sizes = [p.numel() for p in self.params]
        total = sum(sizes)
        if total <= k:
            return [torch.arange(n, device=p.device) for n, p in zip(sizes, self.params)]
        picks = torch.randint(0, total, (k,), generator=generator).unique()  # O(k), not O(total)
        bounds = torch.tensor([0] + sizes).cumsum(0)
        owner = torch.searchsorted(bounds, picks, right=True) - 1
        counts = torch.bincount(owner, minlength=len(sizes)).tolist()
        local = picks - bounds[owner]  # sorted by owner, because picks are sorted
        device = self.params[0].device if self.params else torch.device("cpu")
        if device.type == "cuda":
            local = local.pin_memory()
        local = local.to(device, non_blocking=True)  # one transfer, then views per parameter
        return list(torch.split(local, counts))

    def queue(self, step: int, col: Collector) -> None:
        """Queue A/B/S increments for the update just taken (call right after ``optimizer.step()``)."""
        g_parts, v_parts = [], []
        for p, idx in zip(self.params, self._index):
            st = self.optimizer.state.get(p, {})
            if p.grad is None or "exp_avg_sq" not in st or idx.numel() == 0:
                continue
            g_parts.append(p.grad.detach().reshape(-1)[idx].float())
            v_parts.append(st["exp_avg_sq"].detach().reshape(-1)[idx].float())
        if not g_parts:
            return
        t = step + 1
        alpha = self.options.lr / (1.0 - self.b1**t)
        eta = alpha / ((torch.cat(v_parts) / (1.0 - self.b2**t)).sqrt() + self.eps)
        col.add("adam.a", (eta * torch.cat(g_parts)).pow(2).sum())
        col.add("adam.b", (eta - self._prev).abs().sum() if self._prev is not None and
                self._prev.shape == eta.shape else torch.zeros((), device=eta.device))
        col.add("adam.s", eta.min())
        self._prev = eta

    def record(self, step: int, read: dict[str, list[float]]) -> None:
        if "adam.a" not in read:
            return
        prev = (self.a[-1], self.b[-1], self.s[-1]) if self.t else (0.0, 0.0, 0.0)
        self.t.append(step + 1)
        self.a.append(prev[0] + read["adam.a"][0])
        self.b.append(prev[1] + read["adam.b"][0])
        self.s.append(prev[2] + read["adam.s"][0])

    def frac_below_eps(self) -> float:
        """Share of all parameters (not only the subset) with sqrt(v_hat) < eps, from the final state."""
        below: list[torch.Tensor] = []
        total = sum(p.numel() for p in self.params)
        if not total:
            return 0.0
        device = self.params[0].device
        for p in self.params:
            st = self.optimizer.state.get(p, {})
            if "exp_avg_sq" not in st:
                below.append(torch.full((), float(p.numel()), device=device))
                continue
            t = float(st["step"])
            vhat = st["exp_avg_sq"].detach() / (1.0 - self.b2**t)
            below.append((vhat.sqrt() < self.eps).sum().float().to(device))
        return float(torch.stack(below).sum()) / total  # one read

    def report(self) -> AdamReport:
        sa, sb, ss = (loglog_slope(self.t, series) for series in (self.a, self.b, self.s))
        fast = max((x for x in (sa, sb) if x is not None), default=None)
        oscillating = bool(
            fast is not None and fast >= SLOPE_FLAG and ss is not None and ss < fast - SLOPE_MARGIN
        )
        return AdamReport(self.subset, tuple(self.t), tuple(self.a), tuple(self.b), tuple(self.s),
                          sa, sb, ss, self.frac_below_eps(), oscillating)
