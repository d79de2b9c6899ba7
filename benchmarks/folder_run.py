"""What does a folder run cost next to linting its model files one by one? (issue 10's speed bar)

    python benchmarks/folder_run.py [--other 100] [--repeat 3]

Builds a repository in a temporary folder from the fixture repositories of ``tests/repos/`` (config
dataclasses, factories with a registry, a diffusion transformer, scripts that must not be imported) plus
``--other`` plain Python files with no model (utilities, data code, scripts), then times, in fresh
processes, best of ``--repeat``:

- ``modelcheck lint . --format json --no-cache`` from the repository root (the folder run);
- ``modelcheck lint FILE --format json --no-cache`` for each file that holds an analysed model;
- ``python -c "import modelcheck.cli"`` (the start-up every one of those pays).

The bar: folder <= sum of the model files' lints + 0.1 s per other file. Because every single-file
lint pays the start-up again, the table also gives the tighter figure ``sum - (n - 1) * start-up``.
Prints one table; the numbers are recorded in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPOS = HERE.parent / "tests" / "repos"
PARTS = ("gpt_config", "factories", "diffusion", "scripts")

OTHER = '''"""A utility module with no model."""
import os
import json

CONSTANT_{i} = {i}


def helper_{i}(path: str) -> dict:
    with open(os.path.join(path, "x.json")) as f:
        return json.load(f)


class Record{i}:
    def __init__(self, value: int) -> None:
        self.value = value
'''


def build_repo(root: Path, other: int) -> None:
    for part in PARTS:
        shutil.copytree(REPOS / part, root / part)
    (root / "pyproject.toml").write_text('[project]\nname = "bench"\nversion = "0"\n')
    utils = root / "utils"
    utils.mkdir()
    for i in range(other):
        (utils / f"util_{i}.py").write_text(OTHER.format(i=i))


def timed(cmd: list[str], cwd: Path, repeat: int) -> tuple[float, str]:
    best, out = float("inf"), ""
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        best = min(best, time.perf_counter() - t0)
        out = proc.stdout
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--other", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    lint = [sys.executable, "-m", "modelcheck", "lint", "--format", "json", "--no-cache"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        root.mkdir()
        build_repo(root, args.other)
        files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py"))
        subprocess.run(lint + ["."], cwd=root, capture_output=True)  # warm-up: byte-compile, page cache
        folder_s, out = timed(lint + ["."], root, args.repeat)
        report = json.loads(out)
        model_files = sorted({m["file"] for m in report["models"] if m["status"] == "ok"})
        per_file = {f: timed(lint + [f], root, args.repeat)[0] for f in model_files}
        startup, _ = timed([sys.executable, "-c", "import modelcheck.cli"], root, args.repeat)
    others = len(files) - len(model_files)
    total = sum(per_file.values())
    bar = total + 0.1 * others
    tight = total - (len(model_files) - 1) * startup + 0.1 * others
    print("| files | model files | models | other files | folder s | sum of file lints s | bar s | tight bar s | start-up s |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {len(files)} | {len(model_files)} | {len(report['models'])} | {others} | {folder_s:.1f} | {total:.1f} "
        f"| {bar:.1f} | {tight:.1f} | {startup:.2f} |"
    )
    for f, s in per_file.items():
        print(f"  {f}: {s:.1f} s")


if __name__ == "__main__":
    main()
