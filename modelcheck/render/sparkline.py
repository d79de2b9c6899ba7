"""Unicode sparklines on a log scale, for RMS values that span many decades.

▁▂▃▄▅▆▇█  eight levels between the smallest and largest value of the span
·         no value (None, NaN)        _  zero        ↑  infinite
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence, TypeGuard

BARS = "▁▂▃▄▅▆▇█"
MISSING, ZERO, OVERFLOW = "·", "_", "↑"


def usable(x: float | None) -> TypeGuard[float]:
    """A value that has a place on a log axis."""
    return x is not None and math.isfinite(x) and x > 0


class Span(NamedTuple):
    lo: float  # log10 of the smallest usable value
    hi: float


def log_span(*series: Sequence[float | None], min_decades: float = 1.0) -> Span | None:
    """The log10 range shared by several series (so predicted and measured rows compare by eye),
    widened about its centre to ``min_decades`` so that a 5% wobble does not fill all eight bars."""
    logs = [math.log10(x) for s in series for x in s if usable(x)]
    if not logs:
        return None
    lo, hi = min(logs), max(logs)
    pad = max(0.0, min_decades - (hi - lo)) / 2
    return Span(lo - pad, hi + pad)


def resample(values: Sequence[float | None], width: int) -> list[float | None]:
    """At most ``width`` points: each the geometric mean of its bucket of consecutive values."""
    n = len(values)
    if n <= width:
        return list(values)
    out: list[float | None] = []
    for i in range(width):
        bucket = values[i * n // width : (i + 1) * n // width]
        good = [x for x in bucket if usable(x)]
        if good:
            out.append(10 ** (sum(math.log10(x) for x in good) / len(good)))
        elif any(x is not None and math.isinf(x) and x > 0 for x in bucket):
            out.append(math.inf)
        elif any(x is not None and x == 0 for x in bucket):
            out.append(0.0)
        else:
            out.append(None)
    return out


def _char(x: float | None, span: Span | None) -> str:
    if x is None or math.isnan(x):
        return MISSING
    if math.isinf(x) and x > 0:
        return OVERFLOW
    if x <= 0 or span is None:
        return ZERO if x <= 0 else MISSING
    if span.hi - span.lo < 1e-12:
        return BARS[len(BARS) // 2]
    t = (math.log10(x) - span.lo) / (span.hi - span.lo)
    return BARS[min(len(BARS) - 1, max(0, round(t * (len(BARS) - 1))))]


def sparkline(values: Sequence[float | None], *, span: Span | None, width: int) -> str:
    return "".join(_char(x, span) for x in resample(values, width))


class Step(NamedTuple):
    row: int  # the row the change is attributed to
    ratio: float  # multiplicative change across that row


def steepest_step(values: Sequence[float | None], *, backward: bool = False) -> Step | None:
    """The largest change (in decades) between neighbouring usable rows.

    Forward (activations), row i's change is ``v[i] / v[i-1]``: what layer i did to the signal.
    Backward (gradients flow from the output), it is ``v[i-1] / v[i]``: what passing back through
    layer i did to the gradient.
    """
    best: Step | None = None
    prev: float | None = None
    for i, x in enumerate(values):
        if not usable(x):
            continue
        if prev is not None:
            ratio = prev / x if backward else x / prev
            if best is None or abs(math.log10(ratio)) > abs(math.log10(best.ratio)):
                best = Step(i, ratio)
        prev = x
    return best
