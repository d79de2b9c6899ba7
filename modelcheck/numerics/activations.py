"""Activation functions by the canonical name an ``Op.ACTIVATION`` node carries (``attrs["fn"]``): one
row each, holding every property a pass or a rule reads of the function.

Recognising a layer or a call as one of these is the tracer's business (:mod:`modelcheck.layers`,
:mod:`modelcheck.trace.function_table_free`); what the function *is* lives here, so a new activation
is one row: φ itself (the signal pass's and the init gains' quadratures evaluate it with torch), where
φ or φ′ jumps (the panel quadrature breaks there), its Lipschitz constant (the Lipschitz pass), the
bound on |φ| (a constant operand such as RoPE's cos), whether it saturates at both ends (the
saturating-stack analysis) and what a finding calls it.

Elementwise functions the tracer also records as activations (``abs``, ``sin``, ``erf``, ...) have rows
without φ: the Lipschitz pass knows them, the signal pass treats them as unknown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F

Attrs = Mapping[str, Any]


def _num(a: Attrs, key: str, default: float) -> float:
    return float(a.get(key, default))


def _none(a: Attrs) -> tuple[float, ...]:
    return ()


def _at_zero(a: Attrs) -> tuple[float, ...]:
    return (0.0,)


def _unit(a: Attrs) -> float:
    return 1.0


@dataclass(frozen=True)
class Activation:
    phi: Callable[[torch.Tensor, Attrs], torch.Tensor] | None = None  # φ(x) with the node's attrs
    # max|φ′| over every input, for any attrs, rounded up in the last digit so it stays an upper bound
    # (THEORY §1.2); None where the attrs decide it (leaky_relu, elu, prelu: the Lipschitz pass reads
    # them) or φ has none (hardshrink jumps, exp grows)
    lipschitz: float | None = None
    kinks: Callable[[Attrs], tuple[float, ...]] = _none  # the inputs where φ or φ′ jumps
    absmax: Callable[[Attrs], float] | None = None  # sup|φ|, where φ is bounded
    label: str | None = None  # what a finding calls it; None: the canonical name
    homogeneous: bool = False  # φ(c·x) = c·φ(x) for c > 0: gains do not depend on the input's scale
    saturating: bool = False  # flat at both ends: a deep stack of them loses its gradient
    relu: bool = False  # ReLU itself: He initialisation, units that can die


def _leaky(default: float) -> Callable[[torch.Tensor, Attrs], torch.Tensor]:
    return lambda x, a: F.leaky_relu(x, _num(a, "negative_slope", default))


def _hardtanh_kinks(a: Attrs) -> tuple[float, ...]:
    return (_num(a, "min_val", -1.0), _num(a, "max_val", 1.0))


def _shrink_kinks(a: Attrs) -> tuple[float, ...]:
    lam = _num(a, "lambd", 0.5)
    return (-lam, lam)


TABLE: dict[str, Activation] = {
    "relu": Activation(lambda x, a: F.relu(x), 1.0, _at_zero, label="ReLU", homogeneous=True, relu=True),
    "relu6": Activation(lambda x, a: F.relu6(x), 1.0, lambda a: (0.0, 6.0), label="ReLU6", relu=True),
    "leaky_relu": Activation(_leaky(0.01), None, _at_zero, label="LeakyReLU", homogeneous=True),
    "prelu": Activation(_leaky(0.25), None, _at_zero, homogeneous=True),
    "rrelu": Activation(lambda x, a: F.leaky_relu(x, (_num(a, "lower", 1 / 8) + _num(a, "upper", 1 / 3)) / 2),
                        1.0, _at_zero, homogeneous=True),
    "elu": Activation(lambda x, a: F.elu(x, _num(a, "alpha", 1.0)), None, _at_zero, label="ELU"),
    "celu": Activation(lambda x, a: F.celu(x, _num(a, "alpha", 1.0)), 1.0, _at_zero),
    "selu": Activation(lambda x, a: F.selu(x), 1.75810, _at_zero, label="SELU"),
    "gelu": Activation(lambda x, a: F.gelu(x), 1.12891, label="GELU"),
    "gelu_tanh": Activation(lambda x, a: F.gelu(x, approximate="tanh"), 1.12900, label="GELU"),
    "quick_gelu": Activation(lambda x, a: x * torch.sigmoid(1.702 * x), 1.09984),
    "silu": Activation(lambda x, a: F.silu(x), 1.09984, label="SiLU"),
    "swish": Activation(lambda x, a: F.silu(x), 1.09984),
    "mish": Activation(lambda x, a: F.mish(x), 1.08850, label="Mish"),
    "tanh": Activation(lambda x, a: torch.tanh(x), 1.0, absmax=_unit, saturating=True),
    "sigmoid": Activation(lambda x, a: torch.sigmoid(x), 0.25, absmax=_unit, saturating=True),
    "hardtanh": Activation(lambda x, a: F.hardtanh(x, _num(a, "min_val", -1.0), _num(a, "max_val", 1.0)), 1.0,
                           _hardtanh_kinks, absmax=lambda a: max(abs(v) for v in _hardtanh_kinks(a)),
                           saturating=True),
    "hardsigmoid": Activation(lambda x, a: F.hardsigmoid(x), 0.16666668, lambda a: (-3.0, 3.0), absmax=_unit),
    "hardswish": Activation(lambda x, a: F.hardswish(x), 1.5, lambda a: (-3.0, 3.0), label="Hardswish"),
    "softplus": Activation(lambda x, a: F.softplus(x, _num(a, "beta", 1.0)), 1.0, label="Softplus"),
    "softsign": Activation(lambda x, a: F.softsign(x), 1.0, absmax=_unit, saturating=True),
    "logsigmoid": Activation(lambda x, a: F.logsigmoid(x), 1.0),
    "tanhshrink": Activation(lambda x, a: F.tanhshrink(x), 1.0),
    "softshrink": Activation(lambda x, a: F.softshrink(x, _num(a, "lambd", 0.5)), 1.0, _shrink_kinks),
    "hardshrink": Activation(lambda x, a: F.hardshrink(x, _num(a, "lambd", 0.5)), None, _shrink_kinks),
    "identity": Activation(lambda x, a: x, 1.0),
    "exp": Activation(lambda x, a: torch.exp(x)),  # not an activation module, but torch.exp used as one (issue 11)
    # elementwise functions recorded as activations, with no φ for the signal pass
    "linear": Activation(None, 1.0),
    "abs": Activation(None, 1.0),
    "neg": Activation(None, 1.0),
    "sin": Activation(None, 1.0, absmax=_unit),
    "cos": Activation(None, 1.0, absmax=_unit),
    "erf": Activation(None, 2 / math.sqrt(math.pi) + 1e-12),
}

RELU = frozenset(n for n, r in TABLE.items() if r.relu)
SATURATING = frozenset(n for n, r in TABLE.items() if r.saturating)


def get(name: str | None) -> Activation | None:
    return TABLE.get(name) if name is not None else None


def label(name: str | None) -> str:
    """What a finding calls ``name`` ("ReLU", "GELU"); an unknown name as it is."""
    if name is None:
        return "a linear output"
    row = TABLE.get(name)
    return (row.label if row is not None else None) or str(name)
