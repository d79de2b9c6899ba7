"""Issue 13's smaller items and the cache (issues 13 and 14), through the real command line.

Each case writes a throwaway project, runs ``python -m modelcheck lint`` in a subprocess and checks
the exit code, that stdout is one report, and the one line the case must produce. Most of them end
before any model is built (usage and configuration errors), so they cost a Python start each.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import NamedTuple

import pytest

BROKEN = (Path(__file__).parent / "files" / "zz_broken.py").read_text()
SMALL = """\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(8, 8)

    def forward(self, x):
        return torch.relu(self.a(x))


def example_inputs():
    return (torch.randn(4, 8),)
"""


class Run(NamedTuple):
    code: int
    stdout: str
    stderr: str


def _lint(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MODELCHECK_")}
    base["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    base.update(env or {})
    done = subprocess.run(
        [sys.executable, "-m", "modelcheck", "lint", *args], cwd=cwd, env=base, capture_output=True, text=True, timeout=300
    )
    return Run(done.returncode, done.stdout, done.stderr)


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.modelcheck]\n")
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


def _one_line_error(run: Run) -> None:
    assert "Traceback" not in run.stderr and "Traceback" not in run.stdout, run.stderr
    assert "bug in modelcheck" not in run.stderr + run.stdout, run.stderr


# --- small items (issue 13, point 9) --------------------------------------------------------------


def test_output_to_a_missing_folder_is_one_line_before_linting(tmp_path: Path) -> None:
    root = _project(tmp_path, {"broken.py": BROKEN})
    run = _lint(root, "broken.py", "-f", "json", "-o", str(tmp_path / "nope" / "x.json"))
    assert run.code == 2
    _one_line_error(run)
    assert "nope" in run.stderr and run.stderr.count("\n") <= 3, run.stderr


def test_a_binary_config_is_a_config_error(tmp_path: Path) -> None:
    root = _project(tmp_path, {"broken.py": BROKEN})
    (tmp_path / "bad.toml").write_bytes(b"\x00\xff\xfe binary \x00")
    run = _lint(root, "broken.py", "--config", "bad.toml")
    assert run.code == 2
    _one_line_error(run)


def test_a_huge_input_shape_is_a_usage_error(tmp_path: Path) -> None:
    root = _project(tmp_path, {"broken.py": BROKEN})
    run = _lint(root, "broken.py", "-f", "json", "--input-shape", "100000000000,100000000000")
    assert run.code == 2
    _one_line_error(run)
    json.loads(run.stdout)


def test_unknown_codes_under_options_are_refused(tmp_path: Path) -> None:
    root = _project(tmp_path, {"broken.py": BROKEN})
    (root / "pyproject.toml").write_text('[tool.modelcheck.options.MC999]\nthreshold = 3\n')
    run = _lint(root, "broken.py", "-f", "json")
    assert run.code == 2
    _one_line_error(run)
    assert "MC999" in run.stderr


def test_jobs_are_capped_at_the_cpu_count_with_a_note(tmp_path: Path) -> None:
    root = _project(tmp_path, {"broken.py": BROKEN})
    run = _lint(root, "broken.py", "-f", "json", "-j", "64", "--no-cache")
    assert run.code == 1, run.stderr
    assert "--jobs 64" in run.stderr and "CPU" in run.stderr, run.stderr
    assert json.loads(run.stdout)["models"][0]["status"] == "ok"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_named_like_python_does_not_hang_a_folder_run(tmp_path: Path) -> None:
    root = _project(tmp_path, {"pkg/broken.py": BROKEN})
    os.mkfifo(root / "pkg" / "pipe.py")
    run = _lint(root, "pkg", "-f", "json", "--no-cache")
    assert run.code == 1, run.stderr
    assert [m["model"] for m in json.loads(run.stdout)["models"]] == ["BrokenSigmoid30"]


# --- the cache --------------------------------------------------------------------------------------


def _cache_env(tmp_path: Path) -> dict[str, str]:
    return {"MODELCHECK_CACHE_DIR": str(tmp_path / "cache")}


def _entries(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and not p.name.startswith((".", "rules-"))]


def test_a_planted_pickle_never_runs(tmp_path: Path) -> None:
    root = _project(tmp_path, {"broken.py": BROKEN})
    env = _cache_env(tmp_path)
    first = _lint(root, "broken.py", "-f", "json", env=env)
    assert first.code == 1, first.stderr
    sentinel = tmp_path / "pwned"

    class Boom:
        def __reduce__(self):  # what a malicious pickle does on load
            return (os.system, (f"touch {sentinel}",))

    entries = _entries(tmp_path)
    assert entries, "the first run stored nothing"
    for entry in entries:
        entry.write_bytes(pickle.dumps(Boom()))
    second = _lint(root, "broken.py", "-f", "json", env=env)
    assert not sentinel.exists(), "a cache entry ran code"
    assert second.code == 1 and _summary(second) == _summary(first)  # relinted: the same report
    assert all(p.read_bytes()[:1] == b"{" for p in _entries(tmp_path)), "the planted entries were not rewritten"


def test_a_wrong_but_valid_entry_is_a_miss(tmp_path: Path) -> None:
    root = _project(tmp_path, {"broken.py": BROKEN})
    env = _cache_env(tmp_path)
    first = _lint(root, "broken.py", "-f", "json", env=env)
    for entry in _entries(tmp_path):
        entry.write_text(json.dumps({"format": 2, "sha256": "0", "payload": "[]"}))
    second = _lint(root, "broken.py", "-f", "json", env=env)
    _one_line_error(second)
    assert second.code == first.code == 1


DEPTH_MODEL = """\
import os

import torch
from torch import nn


class Deep(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        depth = int(os.environ.get("DEPTH", "2"))
        self.net = nn.Sequential(*[m for _ in range(depth) for m in (nn.Linear(32, 32), nn.Sigmoid())])

    def forward(self, x):
        return self.net(x)


def example_inputs():
    return (torch.randn(8, 32),)
"""


def _models(run: Run) -> dict[str, dict]:
    return {m["model"]: m for m in json.loads(run.stdout)["models"]}


def _summary(run: Run) -> list[tuple[str, str, list[str]]]:
    return [(m["model"], m["status"], sorted(f["rule"] for f in m["findings"])) for m in json.loads(run.stdout)["models"]]


def test_an_environment_variable_the_file_read_is_part_of_the_key(tmp_path: Path) -> None:
    root = _project(tmp_path, {"deep.py": DEPTH_MODEL})
    env = _cache_env(tmp_path)
    shallow = _lint(root, "deep.py", "-f", "json", env={**env, "DEPTH": "2"})
    deep = _lint(root, "deep.py", "-f", "json", env={**env, "DEPTH": "30"})
    assert shallow.code == 0 and deep.code == 1, (shallow.stderr, deep.stderr)
    assert _models(deep)["Deep"]["num_parameters"] > _models(shallow)["Deep"]["num_parameters"]


def test_dynamic_imports_and_opened_files_are_part_of_the_key(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "helpers/width.py": "WIDTH = 8\n",
            "config.json": '{"depth": 2}\n',
            "net.py": """\
                import importlib
                import json
                import os
                import sys

                import torch
                from torch import nn

                sys.path.insert(0, os.path.join(os.path.dirname(__file__), "helpers"))
                WIDTH = importlib.import_module("width").WIDTH
                with open(os.path.join(os.path.dirname(__file__), "config.json")) as f:
                    DEPTH = json.load(f)["depth"]


                class Net(nn.Module):
                    def __init__(self) -> None:
                        super().__init__()
                        self.net = nn.Sequential(*[nn.Linear(WIDTH, WIDTH) for _ in range(DEPTH)])

                    def forward(self, x):
                        return self.net(x)


                def example_inputs():
                    return (torch.randn(4, WIDTH),)
                """,
        },
    )
    env = _cache_env(tmp_path)
    # its top level runs code (sys.path.insert, open): a script unless --import-scripts
    params = lambda: _models(_lint(root, "net.py", "-f", "json", "--import-scripts", env=env))["Net"]["num_parameters"]  # noqa: E731
    first = params()
    (root / "helpers" / "width.py").write_text("WIDTH = 16\n")
    second = params()
    (root / "config.json").write_text('{"depth": 3}\n')
    third = params()
    assert first < second < third, (first, second, third)


def test_a_cached_run_imports_no_torch(tmp_path: Path) -> None:
    root = _project(tmp_path, {"broken.py": BROKEN, "small.py": SMALL})
    env = _cache_env(tmp_path)
    first = _lint(root, "broken.py", "small.py", "-f", "json", env=env)
    assert first.code == 1, first.stderr
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['modelcheck', 'lint', 'broken.py', 'small.py', '-f', 'json', '--debug']\n"
        "try:\n    runpy.run_module('modelcheck', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("MODELCHECK_")}
    base.update(env, PYTHONPATH=os.pathsep.join(p for p in sys.path if p), MODELCHECK_SOFT_EXIT="1")
    done = subprocess.run([sys.executable, "-c", probe], cwd=root, env=base, capture_output=True, text=True, timeout=300)
    assert "torch_imported=False" in done.stderr and "cached=2" in done.stderr, done.stderr
    assert _summary(Run(0, done.stdout, "")) == _summary(first)


def test_internal_errors_are_never_cached(tmp_path: Path) -> None:
    root = _project(tmp_path, {"grad_off.py": "import torch\ntorch.set_grad_enabled(False)\n" + SMALL.split("\n", 1)[1]})
    env = _cache_env(tmp_path)
    run = _lint(root, "grad_off.py", "-f", "json", "--import-scripts", env=env)  # top-level code: opted in
    models = _models(run)
    assert models["Net"]["status"] == "ok" and not [f for f in models["Net"]["findings"] if f["rule"] == "MC000"]


def test_clean_removes_the_cache(tmp_path: Path) -> None:
    root = _project(tmp_path, {"small.py": SMALL})
    env = _cache_env(tmp_path)
    _lint(root, "small.py", env=env)
    assert _entries(tmp_path)
    base = {k: v for k, v in os.environ.items() if not k.startswith("MODELCHECK_")}
    base.update(env, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    done = subprocess.run([sys.executable, "-m", "modelcheck", "clean"], cwd=root, env=base, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not _entries(tmp_path)
