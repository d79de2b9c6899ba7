"""Many files: 200 small model files (healthy, with findings, unimportable, model-free) linted as one folder.

Through the real command line in a subprocess: every file is reported; the report is deterministic and
the same with ``--jobs 2`` as with ``--jobs 1``; a second run is served from the cache (each model file
counts its own imports in a side file, and the engine's ``--debug`` statistics say so); editing one
file re-lints that file only.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

N_FILES = 200

HEAD = '''"""Generated model file {i} ({kind})."""

from pathlib import Path

import torch
from torch import nn

# counts the imports (an assignment, not a statement: a file whose top level runs code is not imported)
_LOGGED = (Path(__file__).parent.parent / "imports" / "{stem}.log").open("a").write("imported\\n")
'''

BODIES = {
    "healthy": '''

class Net{i}(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, {w}), nn.ReLU(), nn.Linear({w}, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(4, 8),)
''',
    "factory": '''

def build() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, {w}, 3, padding=1), nn.BatchNorm2d({w}), nn.ReLU(), nn.Conv2d({w}, 4, 1))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(2, 3, 8, 8),)
''',
    "broken": '''

class Zeroed{i}(nn.Module):
    """Two consecutive zero-initialised layers: no gradient ever reaches them (an error finding)."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = nn.Linear(8, {w}), nn.Linear({w}, {w}), nn.Linear({w}, 4)
        for layer in (self.a, self.b):
            nn.init.zeros_(layer.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c(torch.relu(self.b(torch.relu(self.a(x)))))


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(4, 8),)
''',
    "helpers": '''

def scale(x: torch.Tensor) -> torch.Tensor:
    return 2 * x
''',
}
SYNTAX_ERROR = '"""Generated model file {i} (syntax error)."""\n\nclass Broken(:\n    pass\n'


def kind_of(i: int) -> str:
    if i % 40 == 39:
        return "syntax"
    if i % 25 == 24:
        return "helpers"
    return ("healthy", "factory", "broken")[i % 3]


def write_files(root: Path) -> Path:
    folder = root / "models"
    folder.mkdir()
    (root / "imports").mkdir()
    for i in range(N_FILES):
        kind, stem = kind_of(i), f"m{i:03d}"
        text = SYNTAX_ERROR.format(i=i) if kind == "syntax" else HEAD.format(i=i, kind=kind, stem=stem) + BODIES[kind].format(i=i, w=8 + i % 9)
        (folder / f"{stem}.py").write_text(text)
    return folder


def imports(root: Path) -> dict[str, int]:
    return {p.stem: len(p.read_text().splitlines()) for p in sorted((root / "imports").glob("*.log"))}


def run(root: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    env = {**os.environ, "MODELCHECK_CACHE_DIR": str(root / "cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "modelcheck", "lint", "models", "--format", "json", "--debug", *args],
        cwd=root, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert proc.returncode in (0, 1, 2), proc.stderr[-3000:]
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def stats(stderr: str) -> dict[str, int]:
    m = re.search(r"files=(\d+) linted=(\d+) cached=(\d+)", stderr)
    assert m, stderr[-2000:]
    return dict(zip(("files", "linted", "cached"), map(int, m.groups())))


def stable(report: dict[str, Any]) -> dict[str, Any]:
    """The report without timings (the only part allowed to differ between runs)."""
    models = [{k: v for k, v in m.items() if k != "seconds"} for m in report["models"]]
    return {**report, "models": models}


@pytest.mark.slow
def test_many_files(tmp_path: Path) -> None:
    folder = write_files(tmp_path)
    kinds = {f"m{i:03d}": kind_of(i) for i in range(N_FILES)}
    with_models = {s for s, k in kinds.items() if k not in ("syntax", "helpers")}

    code2, first, _ = run(tmp_path, "--jobs", "2")
    assert code2 == 2  # syntax errors are tool errors; findings alone would be 1
    by_file = {Path(m["file"]).stem: m for m in first["models"]}
    assert len(first["models"]) == len(by_file)  # one model per file
    for stem, kind in kinds.items():
        rep = by_file.get(stem)
        if kind == "syntax":
            assert rep["status"] == "error" and rep["error"]["code"] == "syntax-error", rep
        elif kind == "helpers":  # nothing to lint: no model report (an info line at most)
            assert rep is None
        else:
            assert rep["status"] == "ok", rep["error"]
            errors = {f["rule"] for f in rep["findings"] if f["severity"] == "error"}
            assert bool(errors) == (kind == "broken"), (stem, errors)
    once = imports(tmp_path)
    assert set(once) >= with_models and set(once).isdisjoint(s for s, k in kinds.items() if k == "syntax")
    assert set(once.values()) == {1}  # each file imported exactly once, in whichever worker

    code1, serial, _ = run(tmp_path, "--jobs", "1", "--no-cache")
    assert code1 == code2 and stable(serial) == stable(first)  # deterministic, and --jobs changes nothing
    twice = imports(tmp_path)
    assert twice == {s: 2 for s in once}

    _, cached, _ = run(tmp_path, "--jobs", "2")
    assert stable(cached) == stable(first)
    assert imports(tmp_path) == twice  # nothing imported again: every result came from the cache

    i = next(i for i in range(N_FILES) if kinds[f"m{i:03d}"] == "healthy")
    stem = f"m{i:03d}"
    (folder / f"{stem}.py").write_text(HEAD.format(i=i, kind="healthy", stem=stem) + BODIES["healthy"].format(i=i, w=40))
    _, again, err = run(tmp_path, "--jobs", "1")
    assert imports(tmp_path) == {**twice, stem: 3}  # the edited file, and only it, was imported again
    assert stats(err) == {"files": N_FILES, "linted": 1, "cached": len(once) - 1}  # the engine agrees
    changed = [m for m, o in zip(stable(again)["models"], stable(first)["models"]) if m != o]
    assert [Path(m["file"]).stem for m in changed] == [stem]


def test_debug_stats_count_the_workers_files(tmp_path: Path) -> None:
    """``--debug`` run statistics add up what the worker processes linted and served from the cache."""
    folder = tmp_path / "models"
    folder.mkdir()
    (tmp_path / "imports").mkdir()
    for i in range(3):
        (folder / f"m{i:03d}.py").write_text(HEAD.format(i=i, kind="healthy", stem=f"m{i:03d}") + BODIES["healthy"].format(i=i, w=8))
    _, _, err = run(tmp_path, "--jobs", "2")
    assert stats(err) == {"files": 3, "linted": 3, "cached": 0}
    _, _, err = run(tmp_path, "--jobs", "2")
    assert stats(err) == {"files": 3, "linted": 0, "cached": 3}
