"""How much does ``modelcheck lint`` cost on top of what any tool pays to look at a model?

    python benchmarks/run.py            # every benchmark model (minutes)
    python benchmarks/run.py --quick    # the MLP scale curve up to depth 100 and GPT-2 small
    python benchmarks/run.py --device cuda   # also time ``lint --probe`` on that device
    python benchmarks/run.py --repeat 3      # best of 3 per measurement (shared machines are noisy)
    python benchmarks/run.py --repeat 5 --median   # median of 5 paired runs, with their spread

Every measurement runs in a fresh subprocess, so its peak RSS (``os.wait4``) is its own:

- baseline: ``import torch``, import the model file, build the model (``lint_speed.py baseline``);
- lint: ``python -m modelcheck lint FILE --format json --no-cache --debug`` (``--meta`` where the model
  says so); its *extra* time is lint minus baseline, and ``extra/base`` is the ratio the targets speak of;
  ``of which model s`` is the engine's own time for the model (the report's ``seconds``: build, inputs,
  trace, passes, rules), the rest of the extra being the command line's start-up. Its peak RSS is the
  larger of the CLI's (``wait4``) and the worker's (``peak_mb=`` on ``--debug``'s run line: the model
  is linted in a fork of the zygote, which the CLI cannot ``wait4``);
- torchinfo: ``summary()`` on the same model, its own time (``torchinfo s``) and the whole command as a
  user runs it (``torchinfo wall s``: Python start, ``import torch``, import the file, build, import
  torchinfo, summary; ``lint_speed.py torchinfo``), the wall that ``lint s`` is compared with.

Before timing, the sources are byte-compiled and each command runs once untimed (hyperfine's
``--warmup``): a user's second lint, not the first after an install, is what pre-commit pays.

Prints one table. Nothing here asserts a time: the numbers are recorded in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MODELS = HERE / "models"


@dataclass(frozen=True)
class Bench:
    name: str
    file: str
    meta: bool = False
    quick: bool = False
    torchinfo: bool = True


BENCHES = (
    Bench("mlp-10", "mlp_10.py", quick=True),
    Bench("mlp-100", "mlp_100.py", quick=True),
    Bench("mlp-1000", "mlp_1000.py"),
    Bench("resnet-50", "resnet50.py"),
    Bench("gpt2-small", "gpt2_small.py", quick=True),
    Bench("llama-70b (meta)", "llama70b.py", meta=True, torchinfo=False),  # torchinfo needs real weights
)


@dataclass(frozen=True)
class Child:
    seconds: float
    peak_mb: float
    rc: int
    stdout: str
    stderr: str


def child(cmd: list[str], timeout: float) -> Child:
    """Run ``cmd``; wall seconds and the peak RSS of that process alone (``wait4``, not RUSAGE_CHILDREN)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, cwd=HERE.parent)
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Child(seconds, usage.ru_maxrss / 1024, proc.returncode, out.read(), err.read())


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Best of several: the least time of each kind, the largest peak memory (timeit's convention)."""
    out = dict(runs[0])
    for key in {k for r in runs for k in r}:
        values = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
        if values and key.endswith("_s"):
            out[key] = min(values)
        elif values and key.endswith("_mb"):
            out[key] = max(values)
    if "base_s" in out and "lint_s" in out:
        out["extra_s"] = out["lint_s"] - out["base_s"]
        out["ratio"] = out["extra_s"] / out["base_s"]
    return out


def median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of several paired runs: the median of each time and of each run's own extra/base (a
    baseline and its lint run back to back, so a busy moment hits both), the largest peak memory, and
    the spread (least, greatest) of lint time and extra/base."""
    for r in runs:
        if "base_s" in r and "lint_s" in r:
            r["extra_s"] = r["lint_s"] - r["base_s"]
            r["ratio"] = r["extra_s"] / r["base_s"]
    out = dict(runs[0])
    for key in {k for r in runs for k in r}:
        values = sorted(r[key] for r in runs if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool))
        if values and (key.endswith("_s") or key == "ratio"):
            out[key] = statistics.median(values)
            if key in ("lint_s", "ratio", "base_s", "torchinfo_wall_s"):
                out[key + "_spread"] = (values[0], values[-1])
        elif values and key.endswith("_mb"):
            out[key] = values[-1]
    out["runs"] = len(runs)
    return out


def warm_up(b: Bench, timeout: float) -> None:
    """Byte-compile and run baseline and lint once, untimed (page cache, ``__pycache__``)."""
    path = str(MODELS / b.file)
    meta = ["--meta"] if b.meta else []
    child([sys.executable, "-m", "compileall", "-q", str(HERE.parent / "modelcheck"), str(HERE.parent / "rules"),
           str(MODELS)], timeout)  # fmt: skip
    child([sys.executable, str(HERE / "lint_speed.py"), "baseline", path, *meta], timeout)
    child([sys.executable, "-m", "modelcheck", "lint", path, "--format", "json", "--no-cache", *meta], timeout)


def measure(b: Bench, device: str | None, timeout: float) -> dict[str, Any]:
    path = str(MODELS / b.file)
    meta = ["--meta"] if b.meta else []
    row: dict[str, Any] = {"model": b.name}
    base = child([sys.executable, str(HERE / "lint_speed.py"), "baseline", path, *meta], timeout)
    if base.rc == 0:
        info = json.loads(base.stdout)
        row.update(params=info["params"], base_s=base.seconds, base_mb=base.peak_mb, build_s=info["build_s"])
    else:
        row["problem"] = f"baseline failed: {base.stderr.strip().splitlines()[-1:]}"
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        lint = child([sys.executable, "-m", "modelcheck", "lint", path, "--format", "json", "--no-cache",
                      "--debug", "-o", str(report), *meta], timeout)  # fmt: skip
        worker = re.search(r"debug: .* peak_mb=(\d+)", lint.stderr)
        row.update(lint_s=lint.seconds, lint_mb=max(lint.peak_mb, float(worker.group(1)) if worker else 0.0))
        if report.exists():
            models = json.loads(report.read_text())["models"]
            m = models[0] if models else {}
            row["tracer"] = m.get("tracer") or (m.get("error") or {}).get("code", "?")
            row["status"] = m.get("status")
            row["model_s"] = m.get("seconds")  # the engine's own time for this model: build to rules
        else:
            row["problem"] = f"lint rc={lint.rc}: {lint.stderr.strip().splitlines()[-1:]}"
    if "base_s" in row:
        row["extra_s"] = row["lint_s"] - row["base_s"]
        row["ratio"] = row["extra_s"] / row["base_s"]
    if b.torchinfo:
        ti = child([sys.executable, str(HERE / "lint_speed.py"), "torchinfo", path], timeout)
        row["torchinfo_s"] = json.loads(ti.stdout)["summary_s"] if ti.rc == 0 else None
        row["torchinfo_wall_s"] = ti.seconds if ti.rc == 0 else None
    if device and not b.meta:
        probe = child([sys.executable, "-m", "modelcheck", "lint", path, "--format", "json", "--no-cache",
                       "--probe", "--device", device, "--probe-steps", "20"], timeout)  # fmt: skip
        row["probe_s"] = probe.seconds if probe.rc in (0, 1) else None
    return row


def _fmt(v: Any, spec: str = ".2f") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return format(v, spec)
    return str(v)


def _cell(row: dict[str, Any], key: str, spec: str) -> str:
    """The value, and its spread over the runs where a median was taken: ``2.3 (2.2-2.6)``."""
    if key not in row:
        return "-"
    spread = row.get(key + "_spread")
    if spread is None:
        return _fmt(row[key], spec)
    return f"{_fmt(row[key], spec)} ({_fmt(spread[0], spec)}-{_fmt(spread[1], spec)})"


def table(rows: list[dict[str, Any]], device: str | None) -> str:
    cols = [("model", "model", "s"), ("params", "params", ",d"), ("tracer", "tracer", "s"),
            ("base_s", "base s", ".1f"), ("lint_s", "lint s", ".1f"), ("extra_s", "extra s", ".1f"),
            ("ratio", "extra/base", ".2f"), ("model_s", "of which model s", ".1f"), ("torchinfo_s", "torchinfo s", ".2f"),
            ("torchinfo_wall_s", "torchinfo wall s", ".1f"),
            ("base_mb", "base MB", ".0f"), ("lint_mb", "lint peak MB", ".0f")]  # fmt: skip
    if device:
        cols.append(("probe_s", f"probe s ({device})", ".1f"))
    head = "| " + " | ".join(c[1] for c in cols) + " |"
    lines = [head, "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(_cell(r, k, f) for k, _, f in cols) + " |")
    for r in rows:
        if r.get("problem"):
            lines.append(f"\n{r['model']}: {r['problem']}")
    by = {r["model"]: r for r in rows}
    if "mlp-100" in by and "mlp-1000" in by and by["mlp-100"].get("extra_s"):
        lines.append(f"\nscale curve: extra(mlp-1000) / extra(mlp-100) = {by['mlp-1000']['extra_s'] / by['mlp-100']['extra_s']:.1f}x")
    return "\n".join(lines)


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor() or "?") if Path("/proc/cpuinfo").exists() else platform.processor()  # fmt: skip
    mem = "?"
    if Path("/proc/meminfo").exists():
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 2**20:.0f} GiB"
    import torch

    return f"{os.cpu_count()} CPUs ({cpu}), {mem} RAM, Python {platform.python_version()}, torch {torch.__version__}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Time modelcheck lint against import+build and torchinfo.")
    ap.add_argument("--quick", action="store_true", help="the fast subset only")
    ap.add_argument("--device", help="also time `lint --probe --device DEVICE` (20 steps)")
    ap.add_argument("--only", help="comma-separated benchmark names")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per measurement")
    ap.add_argument("--repeat", type=int, default=1, help="measure N times, report the best")
    ap.add_argument("--median", action="store_true",
                    help="with --repeat: the median of the runs and their spread, not the best")
    ap.add_argument("--no-warmup", action="store_true", help="time the first, cold run")
    args = ap.parse_args(argv)
    benches = [b for b in BENCHES if (b.quick or not args.quick) and (not args.only or b.name in args.only.split(","))]
    print(f"machine: {machine()}", flush=True)
    print(f"load average before: {_load()}", flush=True)
    rows = []
    for b in benches:
        print(f"... {b.name}", file=sys.stderr, flush=True)
        if not args.no_warmup:
            warm_up(b, args.timeout)
        runs = [measure(b, args.device, args.timeout) for _ in range(max(1, args.repeat))]
        rows.append(median(runs) if args.median else best(runs))
    print(table(rows, args.device))
    print(f"load average after: {_load()}")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
