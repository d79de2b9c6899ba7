"""The zygote started before the command line loads: only for a lint that no cache can answer, of
``.py`` files named on the command line; never for a cached run, a folder or another command."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from zoo import subprocess_env, tiny_model

from modelcheck.engine.prestart import CACHE_ENV, CACHE_FOLDER, files_to_lint

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    for name in ("a.py", "b.py", "pkg/c.py"):
        (tmp_path / name).write_text("x = 1\n")
    (tmp_path / "notes.txt").write_text("")
    return tmp_path


@pytest.mark.parametrize(("argv", "cache_at", "expected"), [
    (["lint", "a.py"], None, ["a.py"]),
    (["lint", "a.py", "pkg/c.py", "--format", "json"], None, ["a.py", "pkg/c.py"]),
    (["lint", "--select", "MC1", "a.py"], None, ["a.py"]),
    (["lint", "a.py"], ".", None),  # a cache may answer: no torch
    (["lint", "pkg/c.py"], ".", None),  # found above the file
    (["lint", "a.py", "--no-cache"], ".", ["a.py"]),  # told not to read it
    (["lint", "a.py"], "elsewhere", ["a.py"]),  # another project's cache says nothing of this one
    (["lint", "pkg"], None, None),  # a folder: its scan decides
    (["lint", "a.py", "pkg"], None, None),
    (["lint"], None, None),  # "." by default
    (["lint", "notes.txt"], None, None),
    (["lint", "missing.py"], None, None),
    (["lint", "a.py", "--help"], None, None),
    (["rules"], None, None),
    ([], None, None),
])
def test_files_to_lint(project: Path, argv: list[str], cache_at: str | None, expected: list[str] | None) -> None:
    if cache_at is not None:
        (project / cache_at / CACHE_FOLDER).mkdir(parents=True)
    got = files_to_lint(argv, project, {})
    assert (None if got is None else [str(p.relative_to(project)) for p in got]) == expected


def test_cache_folder_from_the_environment(project: Path) -> None:
    assert files_to_lint(["lint", "a.py"], project, {CACHE_ENV: str(project / "none")}) is not None
    (project / "shared-cache").mkdir()
    assert files_to_lint(["lint", "a.py"], project, {CACHE_ENV: str(project / "shared-cache")}) is None


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=subprocess_env(),
                          capture_output=True, text=True, timeout=120)


def test_server_starts_before_the_command_line_loads_and_stop_ends_it(project: Path) -> None:
    got = _run('''
        import multiprocessing.forkserver as fs, os, sys, time
        from modelcheck.engine import prestart
        assert prestart.start(["lint", "a.py", "--no-cache"])
        pid = fs._forkserver._forkserver_pid
        os.kill(pid, 0)  # alive
        assert not any(m in sys.modules for m in ("torch", "typer", "rich", "modelcheck.cli", "modelcheck.engine.pool"))
        prestart.stop()
        for _ in range(100):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                break
            time.sleep(0.05)
        else:
            raise SystemExit("the server outlived stop()")
        print("ok")
    ''', project)
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == "ok"


def test_no_server_when_a_cache_may_answer(project: Path) -> None:
    (project / CACHE_FOLDER).mkdir()
    got = _run('''
        import multiprocessing.forkserver as fs
        from modelcheck.engine import prestart
        assert not prestart.start(["lint", "a.py"])
        assert fs._forkserver._forkserver_pid is None
        print("ok")
    ''', project)
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == "ok"


def test_lint_through_an_early_server(project: Path) -> None:
    # the command's own entry point: the early server lints the file, its worker's report comes back
    (project / "net.py").write_text(tiny_model())
    got = subprocess.run([sys.executable, "-m", "modelcheck", "lint", "net.py", "--format", "json"], cwd=project,
                         env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert got.returncode == 0, got.stderr
    assert '"model": "Net"' in got.stdout and '"status": "ok"' in got.stdout
    assert (project / CACHE_FOLDER).is_dir()  # the next run reads the cache: no early server then
