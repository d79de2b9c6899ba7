"""# bad-init-scale (MC201)

## What it does
Finds runs of Linear/Conv layers with no normalisation and no skip connection between them and
multiplies out the gain each layer's initial weight scale gives the signal: forward
`r_l = std(W)·√fan_in / g(φ)` per layer, where `g(φ)` is the variance-preserving gain of the
nonlinearity that follows (√2 for ReLU, 1.53 for GELU, 1.59 for tanh at unit scale, 1 for none;
evaluated at the predicted pre-activation scale where it depends on it), and backward
`√χ_l = std(W)·√fan_in·√E[φ′²]`. A cumulative gain outside `[1e-2, 1e2]` is a warning, outside
`[1e-4, 1e4]` an error. The message names the layers, their weight std against the ideal one for the
following nonlinearity, and the `nn.init` call that fixes them. When no segment reaches a warning but
one drifts by a decade, a single info lists the layers with `r_l` outside `[0.5, 2]`.

A segment's last weight op is not judged when it feeds a residual join or a gate (that scale is the
residual-scaling choice: Fixup, GPT-2's scaled projections), nor when it feeds a normalisation (whose
output does not depend on it); a head that shrinks the output is left alone (ViT's zero head, small
policy heads), and a head tied to an embedding is MC203's. Zero or constant weights are MC202's.
When even the variance-preserving init cannot keep the gradient in range (deep sigmoid stacks, tanh
at gain 5/3), or the init accounts for less than a decade of the drift, the activation is at fault
and the depth and saturation rules report it.

## Why is this bad?
Without normalisation every layer rescales the signal by its `r_l`, and the factors multiply: Xavier
init ignores that ReLU halves the second moment (`r = 0.71`, `4e-5` after 30 layers), N(0, 1) weights
multiply by `√(fan_in/2)` per layer, and PyTorch's default `kaiming_uniform_(a=√5)` gives `r = 0.41`
before a ReLU and `0.36` before a tanh. The first layers' gradients vanish (or overflow), so they do
not learn, and in a deep tanh net the output settles at a fixed point set by the biases alone.

## Example
```python
layers = [nn.Linear(64, 256), nn.ReLU()]
for _ in range(28):
    layers += [nn.Linear(256, 256), nn.ReLU()]
net = nn.Sequential(*layers, nn.Linear(256, 10))
for m in net.modules():
    if isinstance(m, nn.Linear):
        nn.init.xavier_normal_(m.weight)  # std √(2/(in+out)): ×0.71 per ReLU layer
```

## Use instead
```python
for m in net.modules():
    if isinstance(m, nn.Linear):
        nn.init.kaiming_normal_(m.weight, nonlinearity="relu")  # std √2/√fan_in
        nn.init.zeros_(m.bias)
# tanh: xavier_normal_(w, gain=5/3); SELU: std = 1/√fan_in (LeCun); or add normalisation layers
```

## References
- He, Zhang, Ren, Sun, "Delving Deep into Rectifiers", ICCV 2015.
- Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural networks", AISTATS 2010.
- Poole, Lahiri, Raghu, Sohl-Dickstein, Ganguli, "Exponential expressivity in deep neural networks through transient chaos", NeurIPS 2016.
- Schoenholz, Gilmer, Ganguli, Sohl-Dickstein, "Deep Information Propagation", ICLR 2017.
- Klambauer, Unterthiner, Mayr, Hochreiter, "Self-Normalizing Neural Networks", NeurIPS 2017.
- Hanin & Rolnick, "How to Start Training: The Effect of Initialization and Architecture", NeurIPS 2018.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Mapping

from modelcheck.diagnostics import Severity
from modelcheck.ir import Graph
from modelcheck.numerics.activations import label as act_name
from modelcheck.passes.facts import INIT_GAINS, InitLayer, InitSegment
from modelcheck.rule import Violation, rule
from modelcheck_rules.init._common import fmt, fmt_std, init_call

WARN, ERROR = 2.0, 4.0  # decades: [1e-2, 1e2] and [1e-4, 1e4] (THEORY §4.3)
INFO = 1.0
RATIO_BAND = (0.5, 2.0)
MAX_FINDINGS = 3


def _span(seg: InitSegment) -> str:
    a, b = seg.layers[0].node.label, seg.layers[-1].node.label
    return a if a == b else f"{a} … {b}"


def _group_text(fn: str | None, xs: list[InitLayer], shrink: bool) -> str:
    """One nonlinearity's layers: the common ratio, or the layers that deviate most in the bad direction."""
    name = act_name(fn)
    ordered = sorted(xs, key=lambda x: x.ratio, reverse=not shrink)
    typ = ordered[len(ordered) // 2]
    if len(xs) == 1:
        text = f"{typ.node.label} has weight std {fmt_std(typ.weight.rms)} where {name} needs {fmt_std(typ.ideal_std)}" \
               f" (×{typ.ratio:.2g})"
    elif ordered[-1].ratio / ordered[0].ratio < 1.1 and ordered[0].ratio / ordered[-1].ratio < 1.1:
        text = (f"{len(xs)} layers before {name} have weight std {fmt_std(typ.weight.rms)} (e.g. {typ.node.label}) "
                f"where {name} needs {fmt_std(typ.ideal_std)} (×{typ.ratio:.2g})")
    else:
        far = [x for x in ordered[:2] if abs(math.log(x.ratio / typ.ratio)) > 0.1]
        most = ", ".join(f"{x.node.label} ×{x.ratio:.2g} (std {fmt_std(x.weight.rms)} vs {fmt_std(x.ideal_std)})"
                         for x in far)
        text = (f"{len(xs)} layers before {name} have typically ×{typ.ratio:.2g} the std {name} needs "
                f"({typ.node.label}: {fmt_std(typ.weight.rms)} vs {fmt_std(typ.ideal_std)})"
                + (f", furthest {most}" if most else ""))
    lo, hi = min(x.fwd for x in xs), max(x.fwd for x in xs)
    first, last = xs[0], xs[-1]
    if (not first.homogeneous and first.q is not None and last.q is not None
            and (hi / lo > 1.05 or abs(math.log(typ.fwd / typ.ratio)) > 0.05)):
        # GELU, tanh, ...: the gain a layer needs depends on the scale the signal has reached
        span = f"×{first.fwd:.2g}" if len(xs) == 1 or hi / lo <= 1.05 else f"×{first.fwd:.2g} … ×{last.fwd:.2g}"
        qs = f"q = {first.q:.2g}" if len(xs) == 1 else f"q from {first.q:.2g} to {last.q:.2g}"
        text += f"; at the predicted pre-activation scale ({qs}) that is {span} per layer"
    return text


def _advice(seg: InitSegment, shrink: bool) -> tuple[str, str]:
    """(explanation per nonlinearity, the init call for the commonest one)."""
    groups: dict[str | None, list[InitLayer]] = {}
    for x in seg.layers:
        groups.setdefault(x.fn, []).append(x)
    parts = [_group_text(fn, xs, shrink) for fn, xs in sorted(groups.items(), key=lambda kv: -len(kv[1]))[:2]]
    common = Counter(x.fn for x in seg.layers).most_common(1)[0][0]
    x0 = next(x for x in seg.layers if x.fn == common)
    call = init_call(common, x0.attrs, too_big=not shrink, transposed=bool(x0.node.attrs.get("transposed")))
    return "; ".join(parts), call


def _finding(seg: InitSegment, sev: Severity, extra: int) -> Violation:
    use_fwd = abs(math.log10(max(seg.forward, 1e-300))) >= abs(math.log10(max(seg.backward, 1e-300)))
    shrink = (seg.forward if use_fwd else seg.backward) < 1.0
    explain, call = _advice(seg, shrink)
    n = len(seg.layers)
    msg = (f"initial weight scale gives a predicted gain of {fmt(seg.forward)} forward and "
           f"{fmt(seg.backward)} backward over {n} unnormalised layer{'s' * (n > 1)} without skips "
           f"({_span(seg)}): {explain}")
    share = seg.coherent_share
    if share is not None and share < 0.1:
        msg += (f"; the forward signal sits at the bias floor (only {share:.1e} of its second moment still "
                "depends on the input)")
    if extra:
        msg += f" (and {extra} more segment{'s' * (extra > 1)} like it)"
    worst = max(seg.layers, key=lambda x: abs(math.log10(max(x.ratio, 1e-300))))
    return Violation(msg, node=worst.node, severity=sev, fix=f"use {call} on {_span(seg)}",
                     numbers={"forward_gain": seg.forward, "backward_gain": seg.backward, "layers": float(n)},
                     span=(seg.start, seg.end))


def _summary_info(segs: list[InitSegment]) -> Violation | None:
    drifting = [s for s in segs if s.deviation >= INFO]
    off = [x for s in drifting for x in s.layers if not RATIO_BAND[0] <= x.ratio <= RATIO_BAND[1]]
    if not off:
        return None
    off.sort(key=lambda x: -abs(math.log10(max(x.ratio, 1e-300))))
    worst_seg = max(drifting, key=lambda s: s.deviation)
    names = ", ".join(f"{x.node.label} ×{x.ratio:.2g}" for x in off[:3])
    return Violation(
        f"{len(off)} layer{'s start' if len(off) > 1 else ' starts'} with a weight scale outside [0.5, 2]× the "
        f"variance-preserving one for the nonlinearity that follows ({names}"
        f"{', …' if len(off) > 3 else ''}); over {_span(worst_seg)} they compound to "
        f"{fmt(worst_seg.forward)} forward, {fmt(worst_seg.backward)} backward, which grows with depth",
        node=off[0].node, severity=Severity.INFO, fix=f"use {_advice(worst_seg, worst_seg.forward < 1)[1]}",
        numbers={"forward_gain": worst_seg.forward, "backward_gain": worst_seg.backward},
    )


def check(graph: Graph, options: Mapping[str, object]) -> Iterator[Violation]:
    warn = float(options.get("warn-decades", WARN))  # type: ignore[arg-type]
    error = float(options.get("error-decades", ERROR))  # type: ignore[arg-type]
    segs: list[InitSegment] = list(graph.facts.get(INIT_GAINS) or ())
    # When even the variance-preserving init leaves the gradient out of range, the nonlinearity is at
    # fault (sigmoid stacks, tanh at gain 5/3): the depth and saturation rules say so, not this one.
    fixable = [s for s in segs if abs(math.log10(max(s.backward_ideal, 1e-300))) < warn]
    bad = sorted((s for s in fixable if s.deviation >= warn and s.attributable >= INFO),
                 key=lambda s: -s.deviation)
    for i, seg in enumerate(bad[:MAX_FINDINGS]):
        extra = len(bad) - MAX_FINDINGS if i == MAX_FINDINGS - 1 else 0
        yield _finding(seg, Severity.ERROR if seg.deviation >= error else Severity.WARNING, max(extra, 0))
    if not bad:
        info = _summary_info(fixable)
        if info is not None:
            yield info


RULE = rule(
    code="MC201", name="bad-init-scale", severity="warning", requires=("init_gains",),
    options={"warn-decades": float(WARN), "error-decades": float(ERROR)},
)(check)
