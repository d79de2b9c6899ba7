"""Start the zygote before the command line is parsed, when a lint will most likely need it.

A first lint of one file spends, in series: ~0.13 s importing the command line (typer, click, rich)
and the engine, ~0.08 s for the fork server's own Python start, then the zygote's ``import torch``
(~0.9 s). Started first, the server's start and its ``import torch`` run on another core while the
command line imports and parses: the file's worker forks ~0.15 s sooner.

Only when nothing can answer from the cache: ``--no-cache``, or no cache folder in the working folder,
beside the files or above them, and none in ``$MODELCHECK_CACHE_DIR``. A cached run stays a
file-system job: no server, no torch. Only for ``lint`` on ``.py`` files named on the command line
(as pre-commit passes them): a folder may hold no model at all, and its scan decides.

Imports nothing of modelcheck but this module, so that it can run before the rest loads.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Iterator, Mapping, Sequence

CACHE_ENV = "MODELCHECK_CACHE_DIR"  # the cache's folder, when set (engine/cache.py)
CACHE_FOLDER = ".modelcheck_cache"  # else this folder in the project root
WARM_UP_ENV = "MODELCHECK_WARM_UP"  # set by the parent when several files will be forked (engine/worker.py)
WARM_UP_FILES = 4  # from this many files on, the zygote lints a small model first (lazy imports, once)
PRELOAD = "modelcheck.engine.zygote"

_started_pid: int | None = None  # the fork server started here


def files_to_lint(argv: Sequence[str], cwd: Path, environ: Mapping[str, str]) -> list[Path] | None:
    """The ``.py`` files a ``modelcheck lint`` command line names, if no cache can answer for them (see the
    module's docstring); None otherwise. Whether they define models is not known yet: a server started
    for files that do not is killed at exit (:func:`stop`)."""
    if not argv or argv[0] != "lint" or any(a in ("-h", "--help") for a in argv):
        return None
    files: list[Path] = []
    for arg in argv[1:]:
        if arg.startswith("-"):
            continue
        path = cwd / arg
        if path.is_dir():
            return None  # a folder: its scan decides whether anything needs torch
        if arg.endswith(".py") and path.is_file():
            files.append(path)
    if not files:
        return None
    if "--no-cache" in argv:
        return files
    cache_env = environ.get(CACHE_ENV)
    if cache_env and Path(cache_env).exists():
        return None
    for start in (cwd, *(f.parent for f in files)):
        for folder in (start, *start.parents):
            if (folder / CACHE_FOLDER).exists():
                return None
    return files


def start(argv: Sequence[str]) -> bool:
    """Start the fork server now if :func:`files_to_lint` says so; True if it did. Never raises: the
    lint starts it later anyway."""
    global _started_pid
    try:
        files = files_to_lint(argv, Path.cwd(), os.environ)
        if files is None:
            return False
        import multiprocessing
        import multiprocessing.forkserver as forkserver

        if "forkserver" not in multiprocessing.get_all_start_methods():
            return False
        plan_warm_up(len(files))
        multiprocessing.get_context("forkserver").set_forkserver_preload([PRELOAD])
        with main_left_alone():
            forkserver.ensure_running()
        _started_pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
        return True
    except Exception:  # an early start is only an optimisation
        return False


def plan_warm_up(files: int) -> None:
    """Ask the zygote (if it has not started yet) to warm up when several files will be forked:
    a warm-up costs about one small lint, and saves each fork the lazy imports of the analysis."""
    if files >= WARM_UP_FILES:
        os.environ[WARM_UP_ENV] = "1"  # the fork server inherits the environment when it starts


def started() -> bool:
    """Whether a server was started here: the command line then has time on its hands until it is up."""
    return _started_pid is not None


def stop() -> None:
    """End a server started here (the command is exiting: its workers, if any, have reported), rather
    than leave it importing torch for nothing when no file needed it (every file failed to scan, say)."""
    global _started_pid
    if _started_pid is not None:
        import signal

        try:
            os.kill(_started_pid, signal.SIGKILL)
        except OSError:
            pass
        _started_pid = None


@contextlib.contextmanager
def main_left_alone() -> Iterator[None]:
    """multiprocessing re-imports the parent's ``__main__`` in its children and in the fork server (a
    user's unguarded script, pytest, the console script); they need nothing from it, so they are shown
    a ``-m``-style main they skip."""
    import importlib.machinery
    import types

    main = sys.modules.get("__main__")
    stub = types.ModuleType("__main__")
    stub.__spec__ = importlib.machinery.ModuleSpec("modelcheck.__main__", None)
    sys.modules["__main__"] = stub
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main
