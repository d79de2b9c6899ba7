"""What per-file isolation and the cache cost: wall time of `modelcheck lint` on generated projects.

    python benchmarks/isolation.py                     # this checkout
    python benchmarks/isolation.py --src /work/main    # another checkout (its modelcheck), for a before/after
    python benchmarks/isolation.py --repeat 5          # median and spread of 5 runs per row

Rows (each in a fresh subprocess, `--format json`, files written to a temporary folder):
  1 model          one small MLP file, no cache
  30 models        30 small MLP files (a different width each), no cache: the per-file cost
  30 models -j 2   the same with two workers
  120 cached       120 model files, second run (first run untimed): the file-system job
  120 first        the same 120 files, first run (cache empty), for the cached/first ratio
  30 non-model     30 files with no nn.Module, no cache
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL = """\
import torch
from torch import nn


class Net{i}(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(32, {w}), nn.ReLU(), nn.Linear({w}, {w}), nn.ReLU(), nn.Linear({w}, 10))

    def forward(self, x):
        return self.net(x)


def example_inputs():
    return (torch.randn(8, 32),)
"""
PLAIN = "import json\n\n\ndef helper_{i}(x):\n    return json.dumps(x)\n"


def _write(folder: Path, n: int, text: str) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(n):
        (folder / f"f{i:03d}.py").write_text(text.format(i=i, w=32 + i))
        names.append(str(folder / f"f{i:03d}.py"))
    return names


def _time(src: str, args: list[str], cwd: Path, env_extra: dict[str, str]) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELCHECK_")}
    env.update(env_extra, PYTHONPATH=src + os.pathsep + env.get("PYTHONPATH", ""), OMP_NUM_THREADS="1")
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "modelcheck", "lint", "-f", "json", *args], cwd=cwd, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if done.returncode not in (0, 1):
        raise SystemExit(f"lint {args[:3]} failed ({done.returncode}): {done.stderr[-500:]}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", default=str(Path(__file__).resolve().parents[1]), help="checkout whose modelcheck runs")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated row names")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mc-iso-"))
    try:
        (tmp / "pyproject.toml").write_text("[tool.modelcheck]\n")
        one = _write(tmp / "one", 1, MODEL)
        thirty = _write(tmp / "thirty", 30, MODEL)
        many = _write(tmp / "many", 120, MODEL)
        plain = _write(tmp / "plain", 30, PLAIN)
        cache = {"MODELCHECK_CACHE_DIR": str(tmp / "cache")}
        rows: dict[str, list[float]] = {}

        def row(name: str, fn) -> None:  # type: ignore[no-untyped-def]
            if a.only and name not in a.only.split(","):
                return
            rows[name] = [fn() for _ in range(a.repeat)]

        row("1 model", lambda: _time(a.src, ["--no-cache", *one], tmp, {}))
        row("30 models", lambda: _time(a.src, ["--no-cache", *thirty], tmp, {}))
        row("30 models -j 2", lambda: _time(a.src, ["--no-cache", "-j", "2", *thirty], tmp, {}))

        def first() -> float:
            shutil.rmtree(tmp / "cache", ignore_errors=True)
            return _time(a.src, many, tmp, cache)

        def cached() -> float:
            if not (tmp / "cache").exists():
                _time(a.src, many, tmp, cache)
            return _time(a.src, many, tmp, cache)

        row("120 first", first)
        row("120 cached", cached)
        row("30 non-model", lambda: _time(a.src, ["--no-cache", *plain], tmp, {}))
        print(f"src: {a.src}; {a.repeat} runs per row; median [min-max] wall seconds")
        print("| row | median s | min s | max s |\n|---|---|---|---|")
        for name, runs in rows.items():
            print(f"| {name} | {statistics.median(runs):.2f} | {min(runs):.2f} | {max(runs):.2f} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
