#!/usr/bin/env python
"""The probe's largest-stable-lr estimate (MC902) against the largest learning rate that measurably trains.

For every model file of the given corpus folders (the ``shared/corpus`` protocol: one zero-argument
``nn.Module``, a module-level ``example_inputs()``), built with ``torch.manual_seed(0)``:

- **estimate**: ``run_probe`` with the default ``ProbeOptions`` (what ``modelcheck lint --probe`` runs);
  the estimate MC902 used to print, "largest stable lr ~ c / lambda" (the threshold constant c over the
  last measured sharpness lambda), the sharpness verdict, and whether MC902 fired;
- **measured**: the same model re-built at the same init and trained with the probe's own task (MSE to
  a fixed N(0, 1) target on the probe's synthetic batch), optimizer and step count, at learning rates on a
  half-decade grid. A run is *stable* when every loss is finite and the probe's own ``loss_rose`` test
  (final loss above the first, or above 2x the running minimum; the final loss is taken after the last
  update) is false. The grid is walked up from the probe's lr until the first unstable lr (down from it
  when the probe's lr is itself unstable); the largest stable lr is the last stable grid point below the
  first unstable one (``>= max`` when none diverged, ``< min`` when all did).

One thread, CPU, short runs. The table is written as JSON (``--out``) with the command that made it.

    python benchmarks/lr_truth.py /work/shared/corpus tests/corpus --out benchmarks/lr_truth.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import torch
from lint_speed import load_file  # the benchmark scripts' one loader (this folder)
from torch import nn

from modelcheck.probe import run_probe
from modelcheck.probe.records import ProbeOptions
from modelcheck.probe.stability import loss_rose
from modelcheck.probe.task import make_optimizer, make_task

MEASURE = Path("/work/shared/corpus/measure.py")
GRID = tuple(10.0 ** (k / 2) for k in range(-12, 1))  # 1e-6 .. 1, half-decade steps




def _build(cls: Callable[[], nn.Module]) -> nn.Module:
    torch.manual_seed(0)
    return cls().train()


def stable_at(cls: Callable[[], nn.Module], inputs: tuple[Any, ...], options: ProbeOptions) -> bool:
    """Train like the probe at ``options.lr``: whether the run was stable."""
    model = _build(cls)
    device = torch.device("cpu")
    with torch.random.fork_rng():
        torch.manual_seed(options.seed)
        task = make_task(model, inputs, options, device)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = make_optimizer(params, options)
        losses: list[float] = []
        for _ in range(options.steps):
            opt.zero_grad(set_to_none=True)
            loss = task.loss(model(*task.inputs))
            losses.append(float(loss.detach()))
            if not math.isfinite(losses[-1]):
                return False
            loss.backward()
            opt.step()
        with torch.no_grad():
            losses.append(float(task.loss(model(*task.inputs))))
    return all(math.isfinite(x) for x in losses) and not loss_rose(losses)


def largest_stable(cls: Callable[[], nn.Module], inputs: tuple[Any, ...],
                   options: ProbeOptions) -> tuple[float | None, str, dict[str, bool]]:
    """(largest stable grid lr or None, its text, {lr: stable} for the grid points run)."""
    start = min(range(len(GRID)), key=lambda i: abs(math.log(GRID[i] / options.lr)))
    seen: dict[str, bool] = {}

    def run(i: int) -> bool:
        ok = stable_at(cls, inputs, replace(options, lr=GRID[i]))
        seen[f"{GRID[i]:.3g}"] = ok
        return ok

    if run(start):
        i = start
        while i + 1 < len(GRID) and run(i + 1):
            i += 1
        return GRID[i], (">= " if i + 1 == len(GRID) else "") + f"{GRID[i]:.3g}", seen
    i = start - 1
    while i >= 0 and not run(i):
        i -= 1
    return (GRID[i], f"{GRID[i]:.3g}", seen) if i >= 0 else (None, f"< {GRID[0]:.3g}", seen)


def probe_estimate(cls: Callable[[], nn.Module], inputs: tuple[Any, ...], options: ProbeOptions) -> dict[str, Any]:
    result = run_probe(_build(cls), inputs, None, (), options)
    sharp = result.sharpness
    mc902 = next((f for f in result.findings if f.rule == "MC902"), None)
    values = [c.value for c in sharp.checks if math.isfinite(c.value)] if sharp else []
    constant = sharp.threshold * options.lr if sharp else math.nan
    return {
        "verdict": sharp.verdict if sharp else None,
        "sharpness": values,
        "threshold": sharp.threshold if sharp else None,
        "estimate": constant / values[-1] if values and values[-1] > 0 else None,
        "mc902": mc902.message if mc902 else None,
    }


def measure(path: Path, options: ProbeOptions) -> dict[str, Any]:
    measure_mod = load_file(MEASURE, "mc_lr")
    mod = load_file(path, "mc_lr")
    cls = measure_mod.find_model_class(mod)
    inputs = measure_mod.checked_inputs(mod.example_inputs)
    started = time.perf_counter()
    try:
        est = probe_estimate(cls, inputs, options)
    except Exception as exc:  # noqa: BLE001 - a model the probe cannot train is a row, not a crash
        est = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
    lr, text, grid = largest_stable(cls, inputs, options)
    row: dict[str, Any] = {"model": cls.__name__, "measured_largest_stable_lr": lr, "measured": text,
                           "grid": grid, **est}
    e = est.get("estimate")
    row["ratio"] = e / lr if (e and lr) else None
    row["seconds"] = round(time.perf_counter() - started, 2)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", type=Path, nargs="+")
    ap.add_argument("--only", nargs="*", default=None, help="file names to measure (default: all)")
    ap.add_argument("--optimizer", default="adam", choices=("adam", "adamw", "sgd"))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    options = ProbeOptions(optimizer=args.optimizer, lr=1e-3 if args.optimizer != "sgd" else 1e-2,
                           progress=False)
    rows: dict[str, Any] = {}
    print(f"{'file':46s} {'probe':>8s} {'MC902 estimate':>15s} {'measured':>10s} {'ratio':>8s}")
    for d in args.dirs:
        for path in sorted(d.glob("*.py")):
            if path.name in ("measure.py", "score.py") or (args.only and path.name not in args.only):
                continue
            row = measure(path, options)
            key = f"{d.resolve().parent.name}/{d.name}/{path.name}"
            rows[key] = row
            est = row.get("estimate")
            ratio = row.get("ratio")
            print(f"{key:46s} {str(row.get('verdict')):>8s} "
                  f"{(f'{est:.3g}' if est else '-'):>15s} {row['measured']:>10s} "
                  f"{(f'{ratio:.3g}' if ratio else '-'):>8s}", flush=True)
    if args.out:
        payload = {"command": "python benchmarks/lr_truth.py " + " ".join(sys.argv[1:]),
                   "options": {"optimizer": options.optimizer, "lr": options.lr, "steps": options.steps},
                   "grid": [float(f"{g:.3g}") for g in GRID], "models": rows}
        args.out.write_text(json.dumps(payload, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
