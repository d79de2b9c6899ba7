"""The ``ModelReport.extra`` keys the reporters understand (everything else in ``extra`` is ignored).

    "suppressed"        int (or a collection, counted): findings silenced by ``# noqa``
    "lipschitz_reason"  str: why ``metrics.lipschitz_upper_bound`` is None ("softmax attention", ...)
    "lipschitz_modules" tuple[ModuleBound, ...]: each module's own bound, largest first
    "measured"          Metrics: the probe's measured gains, shown beside the predicted ones
    "probe_device"      str: where the probe ran ("cpu", "cuda:0")
    "probe"             a JSON-safe mapping (``ProbeResult.summary()``), passed through to JSON

Reading them through these accessors keeps a wrongly typed value from crashing the last stage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sized
from typing import Any

from modelcheck.diagnostics import Metrics, ModelReport, ModuleBound

SUPPRESSED = "suppressed"
LIPSCHITZ_REASON = "lipschitz_reason"
LIPSCHITZ_MODULES = "lipschitz_modules"
MEASURED = "measured"
PROBE_DEVICE = "probe_device"
PROBE = "probe"


def suppressed(m: ModelReport) -> int:
    value = m.extra.get(SUPPRESSED)
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, Sized):
        return len(value)
    return 0


def lipschitz_reason(m: ModelReport) -> str | None:
    value = m.extra.get(LIPSCHITZ_REASON)
    return str(value) if value else None


def lipschitz_modules(m: ModelReport) -> tuple[ModuleBound, ...]:
    value = m.extra.get(LIPSCHITZ_MODULES)
    if not isinstance(value, (tuple, list)):
        return ()
    return tuple(v for v in value if isinstance(v, ModuleBound))


def measured_metrics(m: ModelReport) -> Metrics | None:
    value = m.extra.get(MEASURED)
    return value if isinstance(value, Metrics) else None


def probe_device(m: ModelReport) -> str | None:
    value = m.extra.get(PROBE_DEVICE)
    if not value:
        summary = probe_summary(m)
        value = summary.get("device") if summary is not None else None
    return str(value) if value else None


def probe_summary(m: ModelReport) -> Mapping[str, Any] | None:
    value = m.extra.get(PROBE)
    return value if isinstance(value, Mapping) else None
