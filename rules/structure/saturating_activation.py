"""# saturating-activation (MC103)

## What it does
Finds chains of saturating activations (sigmoid, tanh, hardtanh, softsign) in sequence on the main
path and reads the predicted gradient attenuation across the chain, the product of the per-layer
factors χ = σ_w²·E[φ′(h)²]. With 3 or more such activations, a product below 10⁻² is a warning and
below 10⁻⁴ an error; 5 or more sigmoids in sequence are reported as info even when well scaled.
Gates are left alone: an activation whose output multiplies another activation (LSTM/GRU cells,
GLU, squeeze-and-excitation, tanh-GELU) is not on the main path, and recurrent modules are opaque.
Without signal predictions it bounds χ with φ′(0)² (sigmoid 1/16, tanh 1) and reports at most a
warning.

## Why is this bad?
|σ′| ≤ 1/4, so a sigmoid layer at gain 1 passes on χ = 0.153 of the gradient energy; with PyTorch's
default init (σ_w² = 1/3) tanh layers pass on about 1/3. Over 20 layers that is 10⁻¹⁷: the lower
layers do not learn, and the top sigmoid layer saturates early in training. (At gain 5/3 tanh is
chaotic instead, χ = 1.21 per layer.)

## Example
```python
layers = []
for _ in range(20):
    layers += [nn.Linear(256, 256), nn.Sigmoid()]
net = nn.Sequential(*layers)
```

## Use instead
```python
layers = []
for _ in range(20):
    linear = nn.Linear(256, 256)
    nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
    layers += [linear, nn.ReLU()]  # or GELU; keep sigmoid for gates and the output only
net = nn.Sequential(*layers)
```

## References
- Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural networks", AISTATS 2010.
- Schoenholz, Gilmer, Ganguli, Sohl-Dickstein, "Deep Information Propagation", ICLR 2017.
- Poole et al., "Exponential expressivity in deep neural networks through transient chaos", NeurIPS 2016.
- Pennington, Schoenholz, Ganguli, "Resurrecting the sigmoid in deep learning through dynamical isometry", NeurIPS 2017.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from modelcheck.diagnostics import Severity
from modelcheck.ir import Graph
from modelcheck.passes.facts import SaturatingChain, fan_in, param_info
from modelcheck.rule import Violation, rule
from modelcheck_rules.structure._common import (
    NO_SIGNAL,
    fmt,
    signal,
    span,
    summary,
    width,
)

MIN_ACTIVATIONS = 3  # one or two saturating layers are not a deep stack
WARN_CHI = 1e-2
ERROR_CHI = 1e-4
INFO_SIGMOIDS = 5
DPHI0_SQ = {"sigmoid": 1 / 16, "tanh": 1.0, "hardtanh": 1.0, "softsign": 1.0}  # φ′(0)², the maximum


def _init_product(graph: Graph, chain: SaturatingChain) -> float | None:
    """∏ σ_w² = ∏ Var(W)·fan_in over the chain's weight ops (None when a weight is unreadable)."""
    prod = 1.0
    for name in chain.weight_ops:
        node = graph.node(name)
        info, fi = param_info(graph, node.params.get("weight")), fan_in(graph, node)
        if info is None or not fi:
            return None
        prod *= info.rms**2 * fi
    return prod


def _predicted(graph: Graph, chain: SaturatingChain) -> float | None:
    start, end = graph.node(chain.start), graph.node(chain.end)
    s0, s1 = signal(start), signal(end)
    if s0 is None or s1 is None or s1.g <= 0:
        return None
    return s0.g * width(start) / (s1.g * width(end))


def check(graph: Graph, options: Mapping[str, Any]) -> Iterator[Violation]:
    s = summary(graph)
    if s is None:
        return
    warn, error = float(options.get("warn-chi", WARN_CHI)), float(options.get("error-chi", ERROR_CHI))
    for chain in s.saturating_chains:
        n = len(chain.activations)
        n_sig = sum(1 for f in chain.fns if f == "sigmoid")
        chi = _predicted(graph, chain)
        init = _init_product(graph, chain)
        bound = chi is None
        if bound and init is not None:
            chi = init * math.prod(DPHI0_SQ.get(f, 1.0) for f in chain.fns)
        first = graph.node(chain.activations[0])
        where = span(graph, chain.activations)
        fns = "/".join(sorted(set(chain.fns)))
        numbers = {"activations": float(n)}
        if chi is not None:
            numbers["chi_product"] = chi
        if n >= MIN_ACTIVATIONS and chi is not None and chi < warn:
            severity = Severity.ERROR if chi < error else Severity.WARNING
            if bound:
                severity = Severity.WARNING
            parts = ""
            if init is not None and chi > 0 and not bound:
                act = chi / init if init > 0 else math.nan
                numbers["init_product"], numbers["activation_product"] = init, act
                parts = f": weights' σ_w² product {fmt(init)}, activations' E[φ′²] product {fmt(act)}"
            what = "bounded with φ′(0)², " + NO_SIGNAL if bound else "predicted"
            yield Violation(
                f"{n} {fns} activations in sequence ({where}) pass on {fmt(chi)} of the gradient energy "
                f"({what}{parts}); below {fmt(error if severity is Severity.ERROR else warn)} the lower "
                f"layers barely learn",
                node=first, severity=None if severity is Severity.WARNING else severity,
                fix=("use ReLU/GELU/SiLU with kaiming_normal_ init on the main path (keep sigmoid/tanh for "
                     "gates and the output), or add normalization and residual connections"),
                numbers=numbers,
                span=(first, graph.node(chain.activations[-1])),
            )
        elif n_sig >= INFO_SIGMOIDS:
            yield Violation(
                f"{n_sig} sigmoid layers in sequence ({where}): |σ′| ≤ 1/4 makes deep sigmoid stacks "
                f"fragile even when the init compensates"
                + (f" (predicted gradient energy passed on: {fmt(chi)})" if chi is not None else ""),
                node=first, severity=Severity.INFO,
                fix="prefer ReLU/GELU on the main path; keep sigmoid for gates and outputs",
                numbers=numbers,
                span=(first, graph.node(chain.activations[-1])),
            )


RULE = rule(
    code="MC103", name="saturating-activation", severity="warning", requires=("structure", "signal"),
    options={"warn-chi": float(WARN_CHI), "error-chi": float(ERROR_CHI)},
)(check)
