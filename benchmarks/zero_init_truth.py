#!/usr/bin/env python
"""Measured "as if not zero-initialised" gains for the zero-init fixtures of ``tests/corpus``.

A zero-initialised output head makes both SPEC §2 gains exactly 0 by design, so the linter reports
the gains with such layers taken at their default init. This script measures that truth: for each
file whose ``meta.json`` entry lists ``as_if_default`` (module paths), the listed modules get their
``reset_parameters()`` (PyTorch's default init) after the model is built, and the gains are measured
as ``shared/corpus/measure.py`` does (training mode, median over seeds 0, 1, 2). The result is merged
into ``labels.json`` as ``forward_gain_as_if`` / ``backward_gain_as_if`` next to the true gains.

    python benchmarks/zero_init_truth.py tests/corpus
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch
from lint_speed import load_file  # the benchmark scripts' one loader (this folder)
from torch import nn

MEASURE = Path("/work/shared/corpus/measure.py")




def measure(path: Path, reset: list[str], seeds: tuple[int, ...] = (0, 1, 2)) -> tuple[float, float]:
    measure_mod = load_file(MEASURE, "mc_truth")
    mod = load_file(path, "mc_truth")
    cls = measure_mod.find_model_class(mod)
    fwds, bwds = [], []
    for s in seeds:
        torch.manual_seed(s)
        model: nn.Module = cls()
        for name in reset:
            model.get_submodule(name).reset_parameters()
        model.train()
        x, y, _ = measure_mod.run_with_x(model, measure_mod.checked_inputs(mod.example_inputs))
        u = torch.randn(y.shape, dtype=y.dtype)
        (g,) = torch.autograd.grad((y * u).sum(), x)
        fwds.append(measure_mod.rms(y) / measure_mod.rms(x))
        bwds.append(measure_mod.rms(g))
    return statistics.median(fwds), statistics.median(bwds)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", type=Path)
    args = ap.parse_args()
    meta = json.loads((args.dir / "meta.json").read_text())
    labels_path = args.dir / "labels.json"
    labels = json.loads(labels_path.read_text())
    for name, entry in sorted(meta.items()):
        reset = entry.get("as_if_default")
        if not reset:
            continue
        fwd, bwd = measure(args.dir / name, reset)
        labels.setdefault(name, {}).update(
            forward_gain_as_if=fwd, backward_gain_as_if=bwd, as_if_default=reset
        )
        print(f"{name:36s} as if {', '.join(reset)} had default init: fwd={fwd:.3g} bwd={bwd:.3g}")
    labels_path.write_text(json.dumps(dict(sorted(labels.items())), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
