"""Is the learning rate stable? Sharpness checks over the run against 2/lr, (2+2b)/lr or 38/lr.

THEORY §6: gradient descent on a quadratic diverges along eigen-directions with lr * lambda > 2 (heavy
ball: 2 + 2 beta); Adam's analogue is the preconditioned sharpness against (2 + 2 b1) / ((1 - b1) lr),
38/lr at b1 = 0.9 (Cohen et al. 2021; 2022). Verdicts:

- unstable  lambda > 1.1 x threshold at >= 3 checks (all of them when fewer ran) and the loss rose or
            went non-finite;
- edge      otherwise, the last check >= 0.9 x threshold: edge of stability, not a defect while the loss
            falls (an early check above it alone is Adam's usual first-steps transient, v_hat ~ g^2);
- stable    below.

No largest stable lr is derived from lambda: Adam's preconditioned sharpness adapts to the lr it runs at
(it settles near 38/lr, Cohen et al. 2022), so the constant over lambda reads back about the probe's own lr.
Measured on the corpora (``benchmarks/lr_truth.py``, ``benchmarks/lr_truth.json``) it was 1.7e-4x to 8x
the largest lr that trained; the probe reports only what it measured.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

from modelcheck.probe.records import ProbeOptions, SharpnessCheck, SharpnessReport
from modelcheck.probe.sharpness import (
    HessianOperator,
    Vec,
    random_vector,
    top_eigenvalue,
)
from modelcheck.probe.task import stability_constant

UNSTABLE_MARGIN = 1.1
EDGE_MARGIN = 0.9
UNSTABLE_CHECKS = 3


def schedule(options: ProbeOptions) -> tuple[int, ...]:
    """The steps (before their update) at which sharpness is measured: spread over the run, >= 10 apart.

    Adam's first check waits for v_hat to average a few gradients (up to 10 updates, a fifth of the run):
    after one update P^-1 H is dominated by single-gradient noise and power iteration does not settle.
    """
    n, k = options.sharpness_checks, options.steps
    first = 0 if options.optimizer == "sgd" else max(1, min(10, k // 5))
    if n <= 0 or first >= k:
        return ()
    if n == 1:
        return (first,)
    interval = max(10, (k - 1 - first) // (n - 1))
    return tuple(s for s in (first + i * interval for i in range(n)) if s < k)


def loss_rose(losses: Sequence[float]) -> bool:
    """The loss went non-finite, ended above where it started, or ended > 2x its running minimum."""
    if not losses:
        return False
    if not all(math.isfinite(x) for x in losses):
        return True
    return losses[-1] > losses[0] or losses[-1] > 2.0 * min(losses)


class SharpnessTracker:
    def __init__(self, options: ProbeOptions, params: Sequence[torch.nn.Parameter],
                 optimizer: torch.optim.Optimizer, loss_fn: Callable[[], torch.Tensor]) -> None:
        self.options, self.params, self.optimizer, self.loss_fn = options, list(params), optimizer, loss_fn
        self.kind, constant = stability_constant(options)
        self.threshold = constant / options.lr
        self.steps = schedule(options)
        self.checks: list[SharpnessCheck] = []
        self.method = "autograd"
        self._vector: Vec | None = None  # the last top vector: a warm start converges in a few products
        self._generator = torch.Generator().manual_seed(options.seed + 104729)

    def due(self, step: int) -> bool:
        return step in self.steps

    def check(self, step: int) -> SharpnessCheck:
        diag = self._adam_diag() if self.kind == "preconditioned" else None
        op = HessianOperator(self.loss_fn, self.params, diag)
        if self._vector is not None:
            v0 = [v.to(p.device, non_blocking=True) for v, p in zip(self._vector, self.params)]
        else:
            v0 = random_vector(self.params, self._generator)
        est = top_eigenvalue(op, v0, iters=self.options.hvp_iters, tol=self.options.hvp_tol)
        self.method = op.method
        if all(bool(torch.isfinite(v).all()) for v in est.vector):
            # Kept on the host between checks: accelerator memory holds only theta_0 as an extra copy.
            self._vector = [v.detach().cpu() for v in est.vector]
        result = SharpnessCheck(step, float(est.value), est.iterations, est.converged)
        self.checks.append(result)
        return result

    def _adam_diag(self) -> Callable[[Vec], Vec]:
        """v -> P^-1/2 v, P = (1 - b1^t) (sqrt(v_hat) + eps), recomputed per product (no stored copy)."""
        b1, b2 = self.options.betas
        eps = self.options.eps
        states = [self.optimizer.state.get(p, {}) for p in self.params]

        def apply(v: Vec) -> Vec:
            out = []
            for vi, st in zip(v, states):
                if "exp_avg_sq" not in st:
                    out.append(torch.zeros_like(vi))  # never updated: no step along it
                    continue
                t = float(st["step"])
                p = (st["exp_avg_sq"] / (1.0 - b2**t)).sqrt_().add_(eps).mul_(1.0 - b1**t)
                out.append(vi * p.rsqrt_())
            return out

        return apply

    def report(self, losses: Sequence[float]) -> SharpnessReport | None:
        if not self.steps:
            return None
        values = [c.value for c in self.checks if math.isfinite(c.value)]
        if not values:
            verdict = "unknown"
        else:
            above = sum(v > UNSTABLE_MARGIN * self.threshold for v in values)
            if above >= min(UNSTABLE_CHECKS, len(values)) and loss_rose(losses):
                verdict = "unstable"
            elif values[-1] >= EDGE_MARGIN * self.threshold:
                verdict = "edge"
            else:
                verdict = "stable"
        return SharpnessReport(self.kind, self.threshold, tuple(self.checks), verdict, self.method)
