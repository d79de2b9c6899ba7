"""The worker side of isolation: the zygote's preload, and one file's life in a forked child.

The zygote (multiprocessing's fork server) imports this module once: torch, the analysis and the
rules are then in memory, and each file runs in a fresh fork of it (about 20 ms), which imports the
file, lints it, sends the result to the parent as JSON and ends with ``os._exit``. Nothing a file
does can reach another file: monkeypatches, torch's global state and threads die with the fork.

Whatever escapes the lint (``SystemExit``, ``KeyboardInterrupt``, ``GeneratorExit``, ...) is the
user's code ending the process: contained here and reported as that file's error line.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, MutableMapping

from modelcheck.config.settings import Settings
from modelcheck.engine import codec, progress, sandbox
from modelcheck.engine.prestart import WARM_UP_ENV
from modelcheck.engine.records import FileJob

RULES: Any = None  # the zygote's RuleSet, loaded once and inherited by every fork
SOURCES: tuple[tuple[str, str], ...] = ()  # the entry points RULES came from
# GNU OpenMP (torch's CPU runtime) spins 300,000 times before an idle thread sleeps. A spinning team
# holds the cores a busy machine (an editor, a test run, `--jobs 2`) needs: with one core taken by
# another process ResNet-50's lint took 4.25-5.45 s against 3.12-3.63 s with 10,000 spins, GPT-2's
# 14.8 s against 9.15 s, and on the idle machine the two are the same (benchmarks/README.md, "OpenMP spin").
OPENMP_SPINS = "10000"


def rule_sources() -> tuple[tuple[str, str], ...]:
    """The rule entry points visible on ``sys.path`` now (a test or a caller may have added some)."""
    import importlib.metadata

    from modelcheck.registry import GROUP

    return tuple(sorted((ep.name, ep.value) for ep in importlib.metadata.entry_points(group=GROUP)))


def openmp_defaults(environ: MutableMapping[str, str]) -> None:
    """A short OpenMP spin before idle threads sleep (:data:`OPENMP_SPINS`), unless the user chose a
    wait policy or a spin count. Read once, when torch loads the runtime: set before ``import torch``."""
    if "OMP_WAIT_POLICY" not in environ and "GOMP_SPINCOUNT" not in environ:
        environ["GOMP_SPINCOUNT"] = OPENMP_SPINS


def preload() -> None:
    """Everything a file's lint needs that does not depend on the file (run in the zygote)."""
    global RULES, SOURCES
    import gc

    # the zygote's own environment: each worker gets the parent's back (sandbox.set_environment), and
    # the runtime keeps what it read when torch loaded it here
    openmp_defaults(os.environ)
    # Importing torch makes ~240k tracked objects that live as long as the zygote: collections during the import
    # only walk them again, 0.1 s of its ~0.9 s on the path of every first lint. No cycle is garbage here.
    gc.disable()
    try:
        import torch  # noqa: F401

        import modelcheck.engine.file  # noqa: F401  (the analysis: trace, passes, checks)
        from modelcheck.registry import load_rules

        try:
            SOURCES = rule_sources()
            RULES = load_rules()
        except Exception:  # a duplicate rule code and the like: the parent reports it from its own load
            RULES = None
    finally:
        gc.enable()
    if os.environ.get(WARM_UP_ENV) == "1":
        _warm_up()
    gc.freeze()  # forks share these pages: a collection that walks them would copy every one


WARM_UP = """\
import torch
from torch import nn


class WarmUp(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.norm = nn.LayerNorm(16)
        self.mlp = nn.Sequential(nn.Linear(16, 16), nn.GELU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 16))
        self.gate = nn.Sequential(nn.Linear(16, 16), nn.Sigmoid())

    def forward(self, x):
        h = torch.relu(self.conv(x)).flatten(2).mean(1)
        return h + self.mlp(self.norm(h)) * self.gate(h)


def example_inputs():
    return (torch.randn(2, 3, 4, 4),)
"""


def _warm_up() -> None:
    """Lint a small model once, so the lazy imports of the whole path (fx, the passes' maths, the
    rules' helpers) happen here, once, and not again in every file's fork. One thread, so no
    OpenMP pool exists when the zygote forks."""
    import tempfile

    import torch

    from modelcheck.engine.file import lint_module_file
    from modelcheck.load.discovery import SourceFile, scan_file

    if RULES is None:
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory(prefix="modelcheck-warm-") as tmp:
            path = Path(tmp) / "warm_up.py"
            path.write_text(WARM_UP)
            job = FileJob(SourceFile(path, path.name, True), scan_file(path))
            lint_module_file(job, Settings(root=Path(tmp), cache=False), RULES)
    except Exception:  # only a warm-up: the files' own lints report whatever is wrong
        pass
    finally:
        torch.set_num_threads(threads)


@dataclass(frozen=True)
class Request:
    """What the parent sends with each fork (pickled by multiprocessing)."""

    kind: str  # "file": lint job; "rules": the installed rules' metadata
    settings: Settings
    env: dict[str, str] = field(default_factory=dict)
    job: FileJob | None = None
    threads: int = 1
    memory: int | None = None  # bytes (RLIMIT_DATA)
    rule_sources: tuple[tuple[str, str], ...] = ()  # the parent's: rules are reloaded if they differ


def serve(conn: Any, request: Request, output: Any = None) -> None:
    """A forked child's whole life; never returns."""
    global RULES
    pid = os.getpid()

    def send(message: dict[str, Any]) -> None:
        if os.getpid() != pid:  # a fork made by the user's code: it has nothing to report
            os._exit(0)
        data = json.dumps(message, allow_nan=True).encode()
        for stream in (sys.stdout, sys.stderr):  # the parent ends this process once the result is in
            try:
                stream.flush()
            except Exception:  # a stream the user's code replaced or closed
                pass
        conn.send_bytes(data)

    try:
        sandbox.isolate_stdout(output.fileno() if output is not None else None)
        target = request.job.src.path if request.job is not None else Path("modelcheck")
        sandbox.set_environment(request.env, target)
        sandbox.limit_memory(request.memory)
        import torch

        torch.set_num_threads(max(1, request.threads))
        if RULES is None or request.rule_sources != SOURCES:
            from modelcheck.registry import load_rules

            RULES = load_rules()
        if request.kind == "rules":
            send({"kind": "rules", "rules": rule_catalog()})
        else:
            assert request.job is not None
            progress.sink = send
            result = lint_one(request.job, request.settings)
            send({"kind": "result", **result, "peak_mb": sandbox.peak_rss_mb()})
    except BaseException as exc:  # noqa: B036  the user's code ended the process: contain it
        try:
            send({"kind": "escaped", "error": _describe(exc)})
        except BaseException:  # noqa: B036
            pass
    finally:
        try:
            sys.stderr.flush()
        finally:
            os._exit(0)


def lint_one(job: FileJob, settings: Settings) -> dict[str, Any]:
    """Lint ``job`` in this process, recording what the result depends on."""
    from modelcheck.engine.file import lint_module_file

    rules = RULES
    recorder = sandbox.Recorder(settings.root)
    result = lint_module_file(job, settings, rules)
    deps = recorder.finish(job.src.path)
    note = sandbox.network_note()
    if note is not None:
        from modelcheck.diagnostics import FileMessage, Severity

        result = (result[0], (*result[1], FileMessage(job.src.display, Severity.WARNING, note)))
    return {"result": codec.encode(result), "deps": deps.as_data()}


def rule_catalog() -> dict[str, Any]:
    """The installed rules' metadata (everything rendering and selection need, no check code)."""
    from modelcheck.engine.catalog import catalog

    return catalog(RULES)


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except BaseException:  # noqa: B036  a __str__ that raises
        text = ""
    text = text.strip().splitlines()[0][:200] if text.strip() else ""
    return f"{type(exc).__name__}({text!r})" if text else type(exc).__name__
