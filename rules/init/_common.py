"""Text helpers shared by the initialisation rules: numbers as they are written and the ``nn.init``
call to recommend. Activation names are :func:`modelcheck.numerics.activations.label`'s, the graph walks
:mod:`modelcheck.passes.walks`', the gains the ``init_gains`` pass's."""

from __future__ import annotations

import math
from collections.abc import Mapping

from modelcheck.numerics import activations
from modelcheck.numerics import gains as initmath


def fmt(v: float) -> str:
    if v == 0 or not math.isfinite(v):
        return str(v)
    return f"{v:.2g}" if 1e-2 <= abs(v) < 1e4 else f"{v:.1e}"


def fmt_std(v: float) -> str:
    return f"{v:.3g}"


def init_call(fn: str | None, attrs: Mapping[str, object], *, too_big: bool, transposed: bool = False,
              q: float = 1.0) -> str:
    """The ``nn.init`` call that gives a layer feeding ``fn`` a variance-preserving scale."""
    mode = ", mode='fan_out'" if transposed else ""  # torch's fan_in is the wrong axis for ConvTranspose
    if fn in activations.RELU:
        return f"nn.init.kaiming_normal_(w{mode}, nonlinearity='relu')"
    if fn in ("leaky_relu", "prelu", "rrelu"):
        a = float(attrs.get("negative_slope", 0.01 if fn == "leaky_relu" else 0.25))  # type: ignore[arg-type]
        return f"nn.init.kaiming_normal_(w{mode}, a={a:g}, nonlinearity='leaky_relu')"
    if fn == "tanh":
        if too_big:
            return ("nn.init.xavier_normal_(w, gain=1.0) with zero biases (gain 5/3 is chaotic in deep tanh "
                    "stacks: χ = 1.21 per layer; σ_w = 1 is the edge of chaos)")
        return "nn.init.xavier_normal_(w, gain=5/3) (or kaiming_normal_(w, nonlinearity='tanh'))"
    if fn == "selu":
        return f"std=1/sqrt(fan_in) (LeCun) for SELU: nn.init.kaiming_normal_(w{mode}, nonlinearity='linear')"
    if initmath.is_linear(fn):
        return f"std=1/sqrt(fan_in) (LeCun): nn.init.kaiming_normal_(w{mode}, nonlinearity='linear')"
    g = initmath.ideal_gain(fn, attrs, q)
    return f"nn.init.normal_(w, std={g:.2f}/math.sqrt(fan_in)) ({activations.label(fn)}'s variance-preserving gain)"
