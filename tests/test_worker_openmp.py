"""The zygote's OpenMP spin default: set before torch loads its runtime, never over the user's choice,
and never visible to the user's code (each worker gets the parent's environment back)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from zoo import subprocess_env, tiny_model

from modelcheck.engine.worker import OPENMP_SPINS, openmp_defaults


@pytest.mark.parametrize(("given", "expected"), [
    ({}, {"GOMP_SPINCOUNT": OPENMP_SPINS}),
    ({"GOMP_SPINCOUNT": "5"}, {"GOMP_SPINCOUNT": "5"}),
    ({"OMP_WAIT_POLICY": "ACTIVE"}, {"OMP_WAIT_POLICY": "ACTIVE"}),
])
def test_openmp_defaults(given: dict[str, str], expected: dict[str, str]) -> None:
    env = dict(given)
    openmp_defaults(env)
    assert env == expected


def test_user_code_sees_the_parents_environment(tmp_path: Path) -> None:
    seen = tmp_path / "seen.json"
    model = tmp_path / "model.py"
    model.write_text(tiny_model(f"""
        import json
        import os

        with open({str(seen)!r}, "w") as f:
            json.dump(os.environ.get("GOMP_SPINCOUNT"), f)
    """))
    env = subprocess_env(drop=("GOMP_SPINCOUNT", "OMP_WAIT_POLICY"))
    done = subprocess.run([sys.executable, "-m", "modelcheck", "lint", "--no-cache", "--import-scripts", "-f", "json", str(model)],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode in (0, 1), done.stderr
    assert json.loads(seen.read_text()) is None


def test_zygote_sets_the_spin_count_before_torch_loads(tmp_path: Path) -> None:
    # GNU OpenMP reads GOMP_SPINCOUNT once, when torch loads it: what counts is its value at that import.
    # The collector, off while torch imports, is on again for the user's code, the imports frozen.
    code = textwrap.dedent('''
        import gc, importlib.abc, json, os, sys

        seen = []

        class Watch(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "torch" and not seen:
                    seen.append(os.environ.get("GOMP_SPINCOUNT"))
                return None

        sys.meta_path.insert(0, Watch())
        from modelcheck.engine import worker
        assert "torch" not in sys.modules
        worker.preload()
        print(json.dumps([seen, gc.isenabled(), gc.get_freeze_count() > 10000]))
    ''')
    env = subprocess_env(drop=("GOMP_SPINCOUNT", "OMP_WAIT_POLICY"))
    got = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout.strip().splitlines()[-1]) == [[OPENMP_SPINS], True, True]

