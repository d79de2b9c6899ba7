#!/usr/bin/env python
"""What the issue-11 measurement adds to the input check's forward (it must not add a forward).

    python benchmarks/evidence_overhead.py [MODEL_FILE ...]

For each model (default: gpt2-small, resnet-50, mlp-100 and mlp-10 from benchmarks/models) the input
check's forward (:func:`modelcheck.load.inputs.forward`, with the lipschitz pass's norm-row observation)
is timed without and with a :class:`modelcheck.capture.Measurement` set up as the engine does (the
backward gain too where :func:`capture.backward_is_cheap` says so), alternating, min of 4. In a lint the
check forward runs only when the inputs are inferred or the model has norms to observe.

    python benchmarks/evidence_overhead.py --trace [MODEL_FILE ...]

The other path (given inputs, no norm): for a model over the size rule, the fx trace (whose lowering runs
the model) is timed without and with the Measurement riding on it; for a model under it, what the lint
adds is a whole check forward with its backward, timed beside the trace. Same alternation, min of 4.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from lint_speed import first_model, load_file  # the benchmark scripts' one loader (this folder)
from torch import nn

from modelcheck import capture
from modelcheck.load import inputs as example
from modelcheck.passes.lipschitz.compose import norm_rows_observation
from modelcheck.trace.tracers import trace_model

MODELS = Path(__file__).parent / "models"
DEFAULT = ("gpt2_small.py", "resnet50.py", "mlp_100.py", "mlp_10.py")


def _build(path: Path) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    mod = load_file(path)
    torch.manual_seed(0)
    return first_model(mod)().train(), tuple(mod.example_inputs())


def _trace_path(path: Path) -> None:
    model, x = _build(path)
    cheap = capture.backward_is_cheap(sum(p.numel() for p in model.parameters()))
    times: dict[str, list[float]] = {"trace": [], "trace+measure": [], "check+backward": []}
    for _ in range(4):
        for key in times:
            torch.manual_seed(0)
            t0 = time.perf_counter()
            if key == "check+backward":
                if cheap:
                    example.forward(model, x, "bench", "", (), None, capture.Measurement(backward=True))
            else:
                trace_model(model, x, prefer="fx", measure=capture.Measurement() if key == "trace+measure" else None)
            times[key].append(time.perf_counter() - t0)
    best = {k: min(v) for k, v in times.items()}
    added = best["check+backward"] if cheap else best["trace+measure"] - best["trace"]
    how = "check forward + backward" if cheap else "measurement on fx's lowering"
    print(f"{path.stem:24s} fx trace {best['trace']:.3f} s   with measure {best['trace+measure']:.3f} s   "
          f"check+backward {best['check+backward']:.3f} s   lint adds ({how}) +{added:.3f} s")


def main(argv: list[str]) -> int:
    torch.set_num_threads(1)
    if argv[:1] == ["--trace"]:
        for name in argv[1:] or ("resnet50.py", "mlp_100.py"):
            _trace_path(Path(name) if Path(name).exists() else MODELS / name)
        return 0
    for name in argv or DEFAULT:
        path = Path(name) if Path(name).exists() else MODELS / name
        model, x = _build(path)
        rows = norm_rows_observation(model)
        backward = capture.backward_is_cheap(sum(p.numel() for p in model.parameters()))
        times: dict[str, list[float]] = {"check": [], "check+measure": []}
        m: capture.Measurement | None = None
        for _ in range(4):
            for key in times:
                m = capture.Measurement(backward=backward) if key == "check+measure" else None
                t0 = time.perf_counter()
                example.forward(model, x, "bench", "", (), rows, m)
                times[key].append(time.perf_counter() - t0)
        best = {k: min(v) for k, v in times.items()}
        ran = "with backward" if m is not None and m.backward_gain is not None else "forward only"
        print(f"{path.stem:12s} check {best['check']:.3f} s   check+measure ({ran}) {best['check+measure']:.3f} s   "
              f"+{best['check+measure'] - best['check']:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
