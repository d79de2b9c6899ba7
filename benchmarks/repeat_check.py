"""Repeated blocks traced once (``modelcheck/trace/repeat.py``) against the full trace, file by file.

    python benchmarks/repeat_check.py /work/shared/corpus examples      # every model file in those folders
    python benchmarks/repeat_check.py benchmarks/models/llama70b.py --meta

Each file is linted twice in fresh processes, ``--format json --no-cache``: as shipped, and with the
replay switched off (``repeat.MIN_DEPTH`` raised past any depth). The two reports must be equal but for
the timings; prints one line per file (equal or not, both wall times) and exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_LINT = """
import sys
from modelcheck.trace import repeat
if sys.argv[1] == "full":
    repeat.MIN_DEPTH = 10**9
from modelcheck.cli import main
sys.argv = ["modelcheck", "lint", *sys.argv[2:]]
main()
"""
_SKIP = {"score.py", "measure.py", "conftest.py"}


def _without_times(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _without_times(v) for k, v in x.items() if k not in ("seconds", "summary")}
    if isinstance(x, list):
        return [_without_times(v) for v in x]
    return x


def lint(mode: str, path: Path, extra: list[str]) -> tuple[float, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", _LINT, mode, str(path), "--format", "json", "--no-cache",
                        "-o", str(out), *extra], capture_output=True, text=True)  # fmt: skip
        seconds = time.perf_counter() - t0
        return seconds, json.loads(out.read_text()) if out.exists() else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+", type=Path)
    ap.add_argument("--meta", action="store_true", help="lint with --meta")
    args = ap.parse_args(argv)
    files = [f for p in args.paths for f in (sorted(p.glob("*.py")) if p.is_dir() else [p]) if f.name not in _SKIP]
    extra = ["--meta"] if args.meta else []
    differ = 0
    for f in files:
        t_rep, rep = lint("replay", f, extra)
        t_full, full = lint("full", f, extra)
        same = rep is not None and _without_times(rep) == _without_times(full)
        differ += not same
        print(f"{'equal ' if same else 'DIFFER'} {t_rep:6.2f} s replay  {t_full:6.2f} s full  {f}", flush=True)
    print(f"{len(files) - differ} of {len(files)} reports equal")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
