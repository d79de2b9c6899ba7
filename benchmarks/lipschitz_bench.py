#!/usr/bin/env python
"""How long do the bound passes take? Times ``init_stats`` + ``lipschitz`` on a GPT-2-small-class
stack of real weights (12 layers, 768×2304 / 768×768 / 768×3072 / 3072×768 linears, 50257×768 head)
and ``init_stats`` + ``lipschitz`` on a 70B Llama built on the meta device (build included).

    python benchmarks/lipschitz_bench.py             # both
    python benchmarks/lipschitz_bench.py --only gpt2

Targets (issue): GPT-2-class bounds in a few seconds on 2 CPU cores; 70B on meta in < 30 s, < 3 GB RSS.
Prints seconds (best of --repeat after a warm-up) and the peak RSS of the process.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from modelcheck.numerics import spectral  # noqa: E402
from modelcheck.passes import PassContext, run_passes  # noqa: E402


def gpt2_class() -> float:
    from lipschitz_ir import Residual, to_ir

    torch.manual_seed(0)
    blocks: list[nn.Module] = []
    for _ in range(12):
        blocks.append(Residual(nn.LayerNorm(768), nn.Linear(768, 2304), nn.Linear(2304, 768)))
        mlp = (nn.Linear(768, 3072), nn.GELU(approximate="tanh"), nn.Linear(3072, 768))
        blocks.append(Residual(nn.LayerNorm(768), *mlp))
    model = nn.Sequential(*blocks, nn.LayerNorm(768), nn.Linear(768, 50257, bias=False)).eval()
    x = torch.randn(2, 16, 768)
    graph = to_ir(model, x)
    spectral._CACHE.clear()
    ctx = PassContext(inputs=(x,), model=model)
    t0 = time.perf_counter()
    run_passes(graph, ["init_stats"], ctx)
    t1 = time.perf_counter()
    run_passes(graph, ["lipschitz"], ctx)
    t2 = time.perf_counter()
    log10 = graph.facts["lipschitz"].log10
    print(f"  init_stats {t1 - t0:.2f} s, lipschitz {t2 - t1:.2f} s, log10 AutoLip = {log10:.1f}")
    return t2 - t0


def llama_70b() -> float:
    from test_meta import analyse_70b_on_meta

    r = analyse_70b_on_meta()
    print(f"  {r['params'] / 1e9:.1f}B parameters on meta: build {r['build_s']:.2f} s, trace [{r['tracer']}] "
          f"{r['trace_s']:.2f} s, init_stats + lipschitz {r['passes_s']:.2f} s")
    return r["seconds"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--only", choices=["gpt2", "70b"])
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    cases = {"gpt2": gpt2_class, "70b": llama_70b}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name, fn in cases.items():
        if args.only and name != args.only:
            continue
        times = [fn() for _ in range(args.repeat + 1)][1:]
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        runs = ", ".join(f"{t:.2f}" for t in times)
        print(f"{name:5s} best {min(times):6.2f} s  (runs: {runs})  peak RSS {rss:.2f} GB")


if __name__ == "__main__":
    main()
