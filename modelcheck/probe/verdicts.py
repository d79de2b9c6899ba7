"""Confirm or refute each static finding with what the run measured (THEORY §6 decision rules).

A finding is **confirmed** when its statistic crosses the rule's threshold at step 0 *and* persists to
the end of the run or its symptom appears (non-finite values, a frozen first layer, a flat loss). The
threshold in decades follows the finding's severity, as in R5: info 1, warning 2, error 4 (gains outside
[1e-4, 1e4] are errors, SPEC §2). A prediction that the measurement misses by more than a decade is said so
in the evidence, but the verdict follows the measurement. Rules without a table row are confirmed only by
a non-finite loss or a loss that did not decrease.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping

from modelcheck.diagnostics import Finding, ProbeVerdict, Severity
from modelcheck.numbers import fmt_num
from modelcheck.probe.records import GainPoint, NonFinite, Symptoms

DECADES = {Severity.INFO: 1.0, Severity.WARNING: 2.0, Severity.ERROR: 4.0}
FROZEN_FIRST_LAYER = 1e-3  # first-layer update / median update below this: the first layer is stuck
FLAT_LOSS = 0.01  # relative loss decrease below this: the loss did not move (R1)
FALLING_LOSS = 0.10  # above this: it trains (R1 refuted)
STREAM_GROWTH = 10.0  # R2: stream RMS x10 over the run
LOSS_SPIKE = 2.0  # R4: loss > 2x its running minimum within the first 50 steps
SPIKE_WINDOW = 50
MOVED = 1e-6  # relative update below this: the layer did not move
DEAD = 0.10  # R9: < 10% active
ENTROPY = 0.3  # R8: H / log T
EPS_ROWS = 3.0  # R7: min row std < 3 sqrt(eps)


@dataclass(frozen=True)
class Evidence:
    """What the verdicts read (plain numbers, gathered by the runner)."""

    steps: int  # updates taken
    losses: tuple[float, ...]  # per step, before the update
    final_loss: float | None  # after the last update
    gains: tuple[GainPoint, ...]  # first = step 0
    rel_update: Mapping[str, float]  # layer -> final ||theta - theta_0|| / ||theta_0||
    first_layer: str | None  # first layer executed
    nonfinite: NonFinite | None
    symptoms: tuple[Symptoms, ...] = ()  # (step 0, end)
    row_spread: Mapping[str, float] = field(default_factory=dict)  # zero-init: rows still identical?

    @property
    def loss_drop(self) -> float | None:
        """Relative decrease of the loss over the run, (L_0 - L_K) / L_0."""
        if not self.losses or self.final_loss is None or not self.losses[0] > 0:
            return None
        return (self.losses[0] - self.final_loss) / self.losses[0]

    @property
    def finite(self) -> bool:
        return self.nonfinite is None and all(math.isfinite(x) for x in self.losses)

    @property
    def first_layer_ratio(self) -> float | None:
        vals = sorted(v for v in self.rel_update.values() if math.isfinite(v))
        if self.first_layer not in self.rel_update or not vals:
            return None
        median = vals[len(vals) // 2]
        return self.rel_update[self.first_layer] / median if median > 0 else None


Judge = Callable[[Finding, Evidence], tuple[bool, str]]


def _g(x: float | None) -> str:
    return fmt_num(x)


def _decades(p: GainPoint, which: str) -> float | None:
    """Decades beyond 1 of the quantity the finding is about; larger = worse."""
    def lg(x: float | None, sign: float) -> float | None:
        if x is None or math.isnan(x):
            return None
        if x <= 0:
            return math.inf if sign < 0 else 0.0
        return sign * math.log10(x) if math.isfinite(x) else (math.inf if sign > 0 else -math.inf)
    options = {
        "vanish": [p.d_vanish, lg(p.backward_gain, -1.0)],
        "explode": [p.d_explode, lg(p.backward_gain, 1.0)],
        "signal-vanish": [lg(p.forward_gain, -1.0)],
        "signal-explode": [lg(p.forward_gain, 1.0)],
    }[which]
    vals = [v for v in options if v is not None]
    return max(vals) if vals else None


def _predicted(f: Finding, quantity: str) -> float | None:
    for key in (quantity, f"predicted_{quantity}", "gain"):
        v = f.numbers.get(key)
        if isinstance(v, (int, float)) and v > 0:
            return float(v)
    return None


def _gain_judge(which: str) -> Judge:
    quantity = "forward_gain" if which.startswith("signal") else "backward_gain"

    def judge(f: Finding, ev: Evidence) -> tuple[bool, str]:
        if not ev.gains:
            return _default(f, ev)
        thr = DECADES.get(f.severity, 2.0)
        first, last = ev.gains[0], ev.gains[-1]
        d0, dk = _decades(first, which), _decades(last, which)
        m0, mk = getattr(first, quantity), getattr(last, quantity)
        name = quantity.replace("_", " ")
        depth = which in ("vanish", "explode")

        def with_d(p: GainPoint) -> str:
            d = getattr(p, f"d_{which}") if depth else None
            return f" (D={_g(d)})" if d is not None else ""

        text = f"measured {name} {_g(m0)}{with_d(first)} at step 0"
        pred = _predicted(f, quantity)
        if pred is not None and m0 and m0 > 0 and math.isfinite(m0) and abs(math.log10(m0 / pred)) > 1:
            text += f", predicted {_g(pred)}"
        d_pred, d_meas = f.numbers.get("D"), getattr(first, f"d_{which}") if depth else None
        if isinstance(d_pred, (int, float)) and d_meas is not None and abs(d_pred - d_meas) > 1:
            text += f", predicted D={_g(d_pred)}"  # a prediction mismatch, worth calibrating
        crosses = d0 is not None and d0 >= thr
        persists = dk is not None and dk >= thr
        ratio = ev.first_layer_ratio
        stuck = ratio is not None and ratio < FROZEN_FIRST_LAYER
        if not crosses:
            kind = "vanishing" if "vanish" in which else "explosion"
            return False, f"{text}, short of the {thr:g}-decade {kind} threshold"
        if last.step > first.step:
            text += f", {'still' if persists else 'back to'} {_g(mk)}{with_d(last)} at step {last.step}"
        if ev.nonfinite is not None:
            text += f"; {ev.nonfinite.detail}"
        if stuck:
            text += f"; the first layer moved {_g(ratio)}x as much as the median layer"
        if persists or stuck or ev.nonfinite is not None:
            return True, text
        return False, f"{text} (transient)"

    return judge


def _missing_skip(f: Finding, ev: Evidence) -> tuple[bool, str]:
    drop = ev.loss_drop
    if not ev.finite:
        return True, ev.nonfinite.detail if ev.nonfinite else "the loss became non-finite"
    depth = max((d for d in (_decades(ev.gains[0], "vanish"), _decades(ev.gains[0], "explode"))
                 if d is not None), default=None) if ev.gains else None
    text = f"loss fell {_pct(drop)} in {ev.steps} steps"
    if depth is not None:
        text += f", measured depth statistic {_g(depth)} decades"
    confirmed = drop is not None and drop < FLAT_LOSS and depth is not None and depth >= DECADES[Severity.WARNING]
    return confirmed, text + (" with finite gradients" if confirmed else "")


def _unnormalized_residual(f: Finding, ev: Evidence) -> tuple[bool, str]:
    """R2: the stream grows x10 over the run *to* >= 10x the input (a vanished signal recovering is not it)."""
    if not ev.finite:
        return True, ev.nonfinite.detail if ev.nonfinite else "the stream overflowed"
    fwd = [g.forward_gain for g in ev.gains if g.forward_gain is not None]
    if len(fwd) < 2 or not fwd[0]:
        return _default(f, ev)
    growth = max(fwd) / fwd[0]
    text = f"forward gain {_g(fwd[0])} at step 0, {_g(fwd[-1])} at step {ev.gains[-1].step}"
    if growth >= STREAM_GROWTH and max(fwd) >= STREAM_GROWTH:
        return True, f"{text} (grew x{_g(growth)})"
    return False, text + (f", grew x{_g(growth)} but stays small" if growth >= STREAM_GROWTH else ", stable")


def _post_ln(f: Finding, ev: Evidence) -> tuple[bool, str]:
    if not ev.finite:
        return True, ev.nonfinite.detail if ev.nonfinite else "the loss became non-finite"
    worst, at, low = 1.0, None, math.inf
    for t, loss in enumerate(ev.losses[:SPIKE_WINDOW]):
        if low < math.inf and low > 0 and loss / low > worst:
            worst, at = loss / low, t
        low = min(low, loss)
    if worst > LOSS_SPIKE:
        return True, f"loss spiked to {_g(worst)}x its running minimum at step {at}"
    return False, f"smooth loss (largest rise {_g(worst)}x the running minimum)"


def _layer_values(values: Mapping[str, float], module: str | None) -> dict[str, float]:
    """Values of ``module`` and its submodules; every value when the module is unknown or unmeasured."""
    if module:
        scoped = {k: v for k, v in values.items() if k == module or k.startswith(module + ".")}
        if scoped:
            return scoped
    return dict(values)


def _did_not_move(f: Finding, ev: Evidence) -> tuple[bool, str] | None:
    moved = _layer_values(ev.rel_update, f.module)
    if not moved:
        return None
    label, value = min(moved.items(), key=lambda kv: kv[1])
    if value < MOVED:
        return True, f"{label} did not move (relative update {_g(value)} after {ev.steps} steps)"
    return False, f"{label} moved (relative update {_g(value)} after {ev.steps} steps)"


def _init_scale(f: Finding, ev: Evidence) -> tuple[bool, str]:
    moved = _did_not_move(f, ev)
    if moved is not None and moved[0]:
        return moved
    for which in ("vanish", "explode"):
        ok, text = _gain_judge(which)(f.with_(severity=Severity.WARNING), ev)
        if ok:
            return ok, text
    return moved if moved is not None else _default(f, ev)


def _zero_init(f: Finding, ev: Evidence) -> tuple[bool, str]:
    spread = _layer_values(ev.row_spread, f.module)
    moved = _did_not_move(f, ev)
    if moved is not None and moved[0]:
        return moved
    if spread:
        label, value = min(spread.items(), key=lambda kv: kv[1])
        if value < MOVED:
            return True, f"the rows of {label} are still identical after {ev.steps} steps (symmetry not broken)"
    return moved if moved is not None else _default(f, ev)


def _symptom(kind: str) -> Judge:
    def judge(f: Finding, ev: Evidence) -> tuple[bool, str]:
        if not ev.symptoms:
            return _default(f, ev)
        end = ev.symptoms[-1]
        start = ev.symptoms[0]
        if kind == "relu":
            now, then = _layer_values(end.relu_active, f.module), start.relu_active
            if not now:
                return _default(f, ev)
            label, v = min(now.items(), key=lambda kv: kv[1])
            text = f"{_pct(v)} of {label} active at step {end.step} ({_pct(then.get(label))} at step 0)"
            return v < DEAD, text
        if kind == "norm":
            rows = _layer_values({k: v[0] / math.sqrt(v[1]) for k, v in end.norm_row_std.items() if v[1] > 0},
                                 f.module)
            if not rows:
                return _default(f, ev)
            label, v = min(rows.items(), key=lambda kv: kv[1])
            eps = end.norm_row_std[label][1]
            text = f"min row std into {label} {_g(v * math.sqrt(eps))} = {_g(v)} sqrt(eps) at step {end.step}"
            return v < EPS_ROWS, text
        ent = _layer_values(end.attention_entropy, f.module)
        if not ent:
            return _default(f, ev)
        label, v = min(ent.items(), key=lambda kv: kv[1])
        text = f"attention entropy / log T {_g(v)} in {label} at step {end.step}"
        if label in start.attention_entropy:
            text += f" ({_g(start.attention_entropy[label])} at step 0)"
        return v < ENTROPY, text
    return judge


def _default(f: Finding, ev: Evidence) -> tuple[bool, str]:
    if not ev.finite:
        return True, ev.nonfinite.detail if ev.nonfinite else "the loss became non-finite"
    drop = ev.loss_drop
    if drop is not None and drop <= 0:
        return True, f"the loss did not decrease in {ev.steps} steps ({_pct(drop)})"
    return False, f"no measurable symptom (loss fell {_pct(drop)} in {ev.steps} steps)"


def _pct(x: float | None) -> str:
    return "unknown" if x is None or not math.isfinite(x) else f"{100 * x:.3g}%"


JUDGES: dict[str, Judge] = {
    "depth-gradient-vanishing": _gain_judge("vanish"),
    "saturating-activation": _gain_judge("vanish"),
    "depth-gradient-explosion": _gain_judge("explode"),
    "signal-vanishing": _gain_judge("signal-vanish"),
    "signal-explosion": _gain_judge("signal-explode"),
    "missing-skip-connection": _missing_skip,
    "unnormalized-residual": _unnormalized_residual,
    "post-ln-transformer": _post_ln,
    "bad-init-scale": _init_scale,
    "zero-init-symmetry": _zero_init,
    "dead-relu-risk": _symptom("relu"),
    "layernorm-eps-too-small": _symptom("norm"),
    "unscaled-attention": _symptom("attention"),
}


def judge(finding: Finding, ev: Evidence) -> Finding:
    """The finding with its probe verdict and the evidence appended to its message."""
    confirmed, text = JUDGES.get(finding.name, _default)(finding, ev)
    verdict = ProbeVerdict.CONFIRMED if confirmed else ProbeVerdict.NOT_CONFIRMED
    message = f"{finding.message} [probe: {text}: {verdict.value.replace('-', ' ')}]"
    return finding.with_(message=message, probe=verdict)
