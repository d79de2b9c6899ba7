"""``--plot PATH``: per-layer gradient RMS over the probe's steps, as a PNG (matplotlib is optional)."""

from __future__ import annotations

import math
from typing import Any

from modelcheck.errors import UsageError
from modelcheck.probe.records import ProbeResult

MAX_LEGEND = 12


def require_matplotlib() -> Any:
    """The pyplot module (Agg backend), or a one-line usage error saying how to get it."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise UsageError("--plot needs matplotlib", hint="pip install 'modelcheck[plot]'") from exc
    return plt


def write_plot(result: ProbeResult, path: str) -> None:
    plt = require_matplotlib()
    steps = [r.step for r in result.steps]
    fig, (ax, ax_loss) = plt.subplots(2, 1, figsize=(8, 7), sharex=True, height_ratios=(3, 1))
    cmap = plt.get_cmap("viridis")
    n = len(result.layers)
    for i, label in enumerate(result.layers):
        ys = [r.grad_rms[i] if r.grad_rms[i] > 0 and math.isfinite(r.grad_rms[i]) else math.nan
              for r in result.steps]
        ax.plot(steps, ys, color=cmap(i / max(n - 1, 1)), lw=1.2,
                label=label if n <= MAX_LEGEND or i in (0, n - 1) else None)
    ax.set_yscale("log")
    ax.set_ylabel("gradient RMS per layer")
    ax.set_title(f"modelcheck probe: {result.options.optimizer}, lr={result.options.lr:g}, {result.device}")
    if n:
        ax.legend(fontsize=7, ncol=2, title="first -> last layer" if n > MAX_LEGEND else None)
    ax_loss.plot(steps, [r.loss for r in result.steps], color="black", lw=1.2)
    ax_loss.set_yscale("log")
    ax_loss.set_ylabel("loss")
    ax_loss.set_xlabel("step")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120)
    except OSError as exc:
        raise UsageError(f"cannot write --plot {path}: {exc.strerror or exc}") from exc
    finally:
        plt.close(fig)
