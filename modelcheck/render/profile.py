"""The per-layer profile of one model, as a renderable: predicted (and measured) activation and
gradient RMS over depth as log-scale sparklines, with the extremes and the steepest step named."""

from __future__ import annotations

import math
from typing import Callable, Iterable, Sequence

from rich import box
from rich.console import Console, ConsoleOptions, RenderResult
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from modelcheck.diagnostics import LayerStat
from modelcheck.numbers import fmt_num, fmt_ratio
from modelcheck.render.sparkline import log_span, sparkline, steepest_step, usable

_Get = Callable[[LayerStat], "float | None"]
# (row label, predicted getter, measured getter, gradients flow backward?)
_QUANTITIES: tuple[tuple[str, _Get, _Get, bool], ...] = (
    ("activation", lambda s: s.activation_rms, lambda s: s.measured_activation_rms, False),
    ("gradient", lambda s: s.gradient_rms, lambda s: s.measured_gradient_rms, True),
)
MIN_WIDTH, MAX_WIDTH = 16, 64
NOTABLE = 2.0  # a steepest step smaller than 2x either way is not worth a line


class ProfileView:
    """Compact by default; ``full=True`` adds one table row per layer."""

    def __init__(self, profile: Sequence[LayerStat], *, full: bool = False) -> None:
        self.profile = tuple(profile)
        self.full = full

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        labels = [s.label for s in self.profile]
        width = max(MIN_WIDTH, min(MAX_WIDTH, options.max_width - 58))
        yield Text.assemble(
            ("profile", "bold"),
            (f"  {len(labels)} layers, RMS on a log scale, input \u2192 output", "dim"),
        )
        grid = Table.grid(padding=(0, 2), pad_edge=False)
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        grid.add_column(overflow="fold")
        steps: list[Text] = []
        for name, predicted, measured, backward in _QUANTITIES:
            pred = [predicted(s) for s in self.profile]
            meas = [measured(s) for s in self.profile]
            has_meas = any(x is not None for x in meas)
            if not any(x is not None for x in pred) and not has_meas:
                continue
            span = log_span(pred, meas)
            rows = [(f"{name} (predicted)" if has_meas else name, pred)]
            if has_meas:
                rows.append((f"{name} (measured)", meas))
            for label, values in rows:
                lo, hi = _extremes(values, labels)
                grid.add_row(
                    Text("  " + label),
                    Text(sparkline(values, span=span, width=width), "cyan"),
                    lo,
                    hi,
                )
            step = steepest_step(pred if any(usable(x) for x in pred) else meas, backward=backward)
            if step is not None and max(step.ratio, 1 / step.ratio) >= NOTABLE:
                verb = "through" if backward else "at"
                steps.append(
                    Text.assemble(
                        (f"steepest {name} change ", "dim"),
                        (fmt_ratio(step.ratio), "bold"),
                        f" {verb} ",
                        (labels[step.row], "bold"),
                    )
                )
        yield grid
        for step_text in steps:
            yield Padding(step_text, (0, 0, 0, 2), expand=False)
        if self.full:
            yield _table(self.profile)


def _extremes(values: Sequence[float | None], labels: Sequence[str]) -> tuple[Text, Text]:
    good = [(x, labels[i]) for i, x in enumerate(values) if x is not None and not math.isnan(x)]
    if not good:
        return Text("no values", "dim"), Text("")
    lo = min(good, key=lambda p: p[0])
    hi = max(good, key=lambda p: p[0])
    return (
        Text.assemble("min ", (fmt_num(lo[0]), "bold"), f" ({lo[1]})"),
        Text.assemble("max ", (fmt_num(hi[0]), "bold"), f" ({hi[1]})"),
    )


def _table(profile: Iterable[LayerStat]) -> Table:
    rows = list(profile)
    has_meas = any(
        s.measured_activation_rms is not None or s.measured_gradient_rms is not None for s in rows
    )
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("layer", overflow="fold")
    table.add_column("activation", justify="right")
    if has_meas:
        table.add_column("measured", justify="right")
    table.add_column("gradient", justify="right")
    if has_meas:
        table.add_column("measured", justify="right")
    for s in rows:
        cells = [s.label, fmt_num(s.activation_rms)]
        if has_meas:
            cells.append(fmt_num(s.measured_activation_rms))
        cells.append(fmt_num(s.gradient_rms))
        if has_meas:
            cells.append(fmt_num(s.measured_gradient_rms))
        table.add_row(*(Text(c) for c in cells))
    return table
