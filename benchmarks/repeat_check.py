"""Repeated blocks traced once (``modelcheck/trace/repeat.py``) against the full trace, file by file.

    python benchmarks/repeat_check.py /work/shared/corpus examples      # every model file in those folders
    python benchmarks/repeat_check.py benchmarks/models/llama70b.py --meta

Each file is linted twice in fresh processes (in process there, with the built-in rules, no cache, its
JSON report kept): as shipped, and with the replay switched off (``repeat.MIN_DEPTH`` raised past any depth). The two reports must be equal but for
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
import json, sys
from modelcheck.trace import repeat
if sys.argv[1] == "full":
    repeat.MIN_DEPTH = 10**9
from modelcheck.config.settings import CliOptions, resolve_settings
from modelcheck.engine.run import lint_paths
from modelcheck.registry import load_rules
from modelcheck.render.json import report_dict
path, out, meta = sys.argv[2], sys.argv[3], sys.argv[4] == "meta"
report = lint_paths([path], resolve_settings([path], CliOptions(cache=False, meta=meta)), rules=load_rules())
with open(out, "w") as f:
    json.dump(report_dict(report), f)
"""  # in this process (rules given): the command line would lint in a forked worker the patch misses
_SKIP = {"score.py", "measure.py", "conftest.py"}


def _without_times(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _without_times(v) for k, v in x.items() if k not in ("seconds", "summary")}
    if isinstance(x, list):
        return [_without_times(v) for v in x]
    return x


def lint(mode: str, path: Path, meta: bool) -> tuple[float, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", _LINT, mode, str(path), str(out), "meta" if meta else "-"],
                       capture_output=True, text=True)  # fmt: skip
        seconds = time.perf_counter() - t0
        return seconds, json.loads(out.read_text()) if out.exists() else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+", type=Path)
    ap.add_argument("--meta", action="store_true", help="lint with --meta")
    args = ap.parse_args(argv)
    files = [f for p in args.paths for f in (sorted(p.glob("*.py")) if p.is_dir() else [p]) if f.name not in _SKIP]
    differ = 0
    for f in files:
        t_rep, rep = lint("replay", f, args.meta)
        t_full, full = lint("full", f, args.meta)
        same = rep is not None and _without_times(rep) == _without_times(full)
        differ += not same
        print(f"{'equal ' if same else 'DIFFER'} {t_rep:6.2f} s replay  {t_full:6.2f} s full  {f}", flush=True)
    print(f"{len(files) - differ} of {len(files)} reports equal")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
