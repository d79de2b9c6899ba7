"""A CI gate user code cannot fool (issue 13): every hostile file in ``files/`` is linted together
with a broken model (``zz_broken.py``: a 30-layer sigmoid MLP) through the real command line, in a
subprocess. Whatever a file does (exit, crash, hang, print below ``sys.stdout``, change torch's
global state), the run ends, stdout is one parseable report, the broken model's errors are there,
the exit code is 2 (never 0), and ``-j 1`` and ``-j 2`` agree.

The runs are shared by the per-case assertions (three CLI runs for the whole set), so the file
costs about as much as linting thirty tiny models three times.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import pytest

FILES = Path(__file__).parent / "files"
BROKEN = FILES / "zz_broken.py"
BROKEN_MODEL = "BrokenSigmoid30"
SARIF_SCHEMA = Path("/work/shared/schemas/sarif-schema-2.1.0.json")
TIMEOUT = "4"  # seconds per file for the hanging cases: long enough for a tiny model on a busy CI box


class Expect(NamedTuple):
    status: str  # "ok", "error" (some report of the file is an error) or "any"
    text: str = ""  # what the file's error line must say (case-insensitive), if anything


CASES: dict[str, Expect] = {
    "exit_forward": Expect("error", "SystemExit"),
    "exit_init": Expect("error", "SystemExit"),
    "exit_example_inputs": Expect("error", "SystemExit"),
    "sys_exit_message": Expect("error", "SystemExit"),
    "generator_exit": Expect("error", "GeneratorExit"),
    "cancelled_error": Expect("error", "CancelledError"),
    "keyboard_interrupt": Expect("error", "KeyboardInterrupt"),
    "os_exit_import": Expect("error", "exited"),
    "os_exit_init": Expect("error", "exited"),
    "segfault_init": Expect("error", "signal 11"),
    "hang_import": Expect("error", "timed out"),
    "hang_init": Expect("error", "timed out"),
    "hang_forward": Expect("error", "timed out"),
    "argparse_init": Expect("ok"),
    "grad_off_import": Expect("ok"),
    "dtype_float64_import": Expect("any"),
    "meta_device_import": Expect("any"),
    "monkeypatch_linear": Expect("any"),
    "stdout_fd_write": Expect("ok"),
    "stdout_dunder": Expect("ok"),
    "stdout_subprocess": Expect("ok"),
    "stdout_c_printf": Expect("ok"),
    "stdout_thread": Expect("ok"),
    "fork_import": Expect("ok"),
    "str_raises_import": Expect("error", "Weird"),
    "module_getattr": Expect("any"),
    "network_hub": Expect("error", "network access is off"),
    "int_ids_float_mlp": Expect("error", "input `x` of `Net.forward` is int64"),
    "utf8_bom": Expect("ok"),
}


class Run(NamedTuple):
    code: int
    stdout: str
    stderr: str


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELCHECK_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)  # the same modelcheck as this test
    return env


def _lint(*args: str, timeout: float = 300) -> Run:
    # --import-scripts: files whose top level runs code are imported anyway (else issue 10's AST check
    # never lets their hostile import run), so what isolation contains is what is tested
    cmd = [sys.executable, "-m", "modelcheck", "lint", "--no-cache", "--import-scripts", "--timeout", TIMEOUT, *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(), cwd=FILES)
    return Run(done.returncode, done.stdout, done.stderr)


def _paths() -> list[str]:
    return [f"{stem}.py" for stem in CASES] + [BROKEN.name]


@lru_cache(maxsize=None)
def _run(jobs: int, fmt: str = "json") -> Run:
    return _lint("-f", fmt, "-j", str(jobs), *_paths())


def _report(jobs: int) -> dict[str, Any]:
    return json.loads(_run(jobs).stdout)  # the whole of stdout is one JSON document


def _normalised(report: dict[str, Any]) -> str:
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("seconds", "elapsed", "timing")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return json.dumps(strip(report), sort_keys=True)


def test_every_fixture_has_a_case() -> None:
    assert {p.stem for p in FILES.glob("*.py")} == set(CASES) | {BROKEN.stem}


@pytest.mark.parametrize("jobs", [1, 2])
def test_the_run_ends_with_one_report_and_exit_2(jobs: int) -> None:
    run = _run(jobs)
    assert run.code == 2, run.stderr[-3000:]
    report = json.loads(run.stdout)
    assert "Traceback" not in run.stdout and "Traceback" not in run.stderr, run.stderr[-3000:]
    broken = [m for m in report["models"] if m["model"] == BROKEN_MODEL]
    assert len(broken) == 1 and broken[0]["status"] == "ok", broken
    assert [f for f in broken[0]["findings"] if f["severity"] == "error"], broken[0]["findings"]


def test_one_and_two_jobs_give_the_same_report() -> None:
    assert _normalised(_report(1)) == _normalised(_report(2))


def _entries(report: dict[str, Any], stem: str) -> list[dict[str, Any]]:
    name = f"{stem}.py"
    models = [m for m in report["models"] if Path(m["file"]).name == name]
    messages = [m for m in report.get("messages", []) if Path(m["file"]).name == name]
    return models + messages


@pytest.mark.parametrize("stem", list(CASES))
def test_each_hostile_file_gets_its_line(stem: str) -> None:
    expect = CASES[stem]
    entries = _entries(_report(2), stem)
    assert entries, f"{stem}.py is missing from the report"
    errors = [e for e in entries if e.get("status") == "error" or e.get("severity") == "error"]
    if expect.status == "ok":
        assert not errors, errors
        assert all(not any(f["rule"] == "MC000" for f in e.get("findings", ())) for e in entries), entries
    elif expect.status == "error":
        assert errors, entries
        lines = [e["error"]["message"] if e.get("error") else e.get("message", "") for e in entries]
        assert all("\n" not in line and "Traceback" not in line for line in lines), lines
        assert any(expect.text.lower() in line.lower() for line in lines), lines
    for e in entries:  # a user's file is never "a bug in modelcheck"
        err = e.get("error") or {}
        assert "bug in modelcheck" not in (err.get("message") or e.get("message", "")), e


def test_sarif_validates_despite_output_below_stdout() -> None:
    noisy = [f"{stem}.py" for stem in CASES if stem.startswith(("stdout_", "fork_", "exit_", "os_exit"))]
    run = _lint("-f", "sarif", "-j", "2", *noisy, BROKEN.name)
    assert run.code == 2, run.stderr[-3000:]
    sarif = json.loads(run.stdout)
    assert sarif["runs"][0]["results"], "the broken model's findings are missing"
    if not SARIF_SCHEMA.exists():
        pytest.skip(f"no SARIF schema at {SARIF_SCHEMA}")
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(sarif, json.loads(SARIF_SCHEMA.read_text()))
