"""Gaussian expectations of activation functions, the mean-field primitives (THEORY §3.1).

For pre-activations of two positions jointly Gaussian with variance ``q`` and covariance ``r``:

    phi2(q)        E[φ(u)²]
    dphi2(q)       E[φ′(u)²]
    phiphi(q, r)   E[φ(u)φ(u′)]

evaluated by Gauss–Hermite quadrature with an even node count (a node at 0 would bias step-function
derivatives such as ReLU′). φ is evaluated with torch itself, so every activation torch has is exact.
"""

from __future__ import annotations

import functools
import math
from typing import Callable

import torch
import torch.nn.functional as F

_N = 64  # nodes per axis: smooth activations exact to ~1e-8; even count so no node sits on a kink

ActFn = Callable[[torch.Tensor], torch.Tensor]


def activation_fn(name: str, attrs: dict | None = None) -> ActFn | None:
    """The torch callable for a canonical activation name (see ir.Op.ACTIVATION), or None."""
    a = attrs or {}
    table: dict[str, ActFn] = {
        "relu": F.relu,
        "relu6": F.relu6,
        "leaky_relu": lambda x: F.leaky_relu(x, float(a.get("negative_slope", 0.01))),
        "prelu": lambda x: F.leaky_relu(x, float(a.get("negative_slope", 0.25))),
        "rrelu": lambda x: F.leaky_relu(x, (float(a.get("lower", 1 / 8)) + float(a.get("upper", 1 / 3))) / 2),
        "elu": lambda x: F.elu(x, float(a.get("alpha", 1.0))),
        "celu": lambda x: F.celu(x, float(a.get("alpha", 1.0))),
        "selu": F.selu,
        "gelu": F.gelu,
        "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
        "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x),
        "silu": F.silu,
        "swish": F.silu,
        "mish": F.mish,
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "hardtanh": lambda x: F.hardtanh(x, float(a.get("min_val", -1.0)), float(a.get("max_val", 1.0))),
        "hardsigmoid": F.hardsigmoid,
        "hardswish": F.hardswish,
        "softplus": lambda x: F.softplus(x, float(a.get("beta", 1.0))),
        "softsign": F.softsign,
        "logsigmoid": F.logsigmoid,
        "tanhshrink": F.tanhshrink,
        "softshrink": lambda x: F.softshrink(x, float(a.get("lambd", 0.5))),
        "hardshrink": lambda x: F.hardshrink(x, float(a.get("lambd", 0.5))),
        "identity": lambda x: x,
    }
    return table.get(name)


@functools.lru_cache(maxsize=1)
def _nodes() -> tuple[torch.Tensor, torch.Tensor]:
    import numpy as np

    x, w = np.polynomial.hermite_e.hermegauss(_N)  # probabilists' Hermite: weight e^{-x²/2}
    return (torch.tensor(x, dtype=torch.float64), torch.tensor(w / math.sqrt(2 * math.pi), dtype=torch.float64))


def _key(v: float) -> float:
    return float(f"{v:.6g}")  # cache on 6 significant digits: nodes share q in a stack


@functools.lru_cache(maxsize=4096)
def _moments(name: str, attrs_key: tuple, q: float, rho: float) -> tuple[float, float, float, float]:
    """(E[φ²], E[φ′²], E[φφ′ across positions], E[φ]) for variance q and correlation rho."""
    fn = activation_fn(name, dict(attrs_key))
    assert fn is not None
    z, w = _nodes()
    s = math.sqrt(max(q, 0.0))
    u = (s * z).requires_grad_(True)
    y = fn(u)
    (dy,) = torch.autograd.grad(y.sum(), u)
    y = y.detach()
    phi2 = float((w * y * y).sum())
    dphi2 = float((w * dy * dy).sum())
    mean = float((w * y).sum())
    rho = min(max(rho, -1.0), 1.0)
    if abs(rho) > 1 - 1e-9:
        cross = phi2 if rho > 0 else float((w * y * fn(-s * z)).sum())
    else:
        z1, z2 = z[:, None], z[None, :]
        u2 = s * (rho * z1 + math.sqrt(1 - rho * rho) * z2)
        cross = float((w[:, None] * w[None, :] * y[:, None] * fn(u2)).sum())
    return phi2, dphi2, cross, mean


def moments(name: str, q: float, r: float = 0.0, attrs: dict | None = None) -> tuple[float, float, float, float] | None:
    """E[φ²], E[φ′²], E[φ(u)φ(u′)], E[φ] for u, u′ ~ N(0, [[q, r], [r, q]]); None if φ is unknown."""
    if activation_fn(name, attrs) is None:
        return None
    if q <= 0:
        z = float(activation_fn(name, attrs)(torch.zeros((), dtype=torch.float64)))  # type: ignore[misc]
        return z * z, _moments(name, _attrs_key(attrs), 1e-12, 0.0)[1], z * z, z
    rho = r / q
    return _moments(name, _attrs_key(attrs), _key(q), _key(rho))


def _attrs_key(attrs: dict | None) -> tuple:
    if not attrs:
        return ()
    return tuple(sorted((k, v) for k, v in attrs.items() if isinstance(v, (int, float, str, bool))))
