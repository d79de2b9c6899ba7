"""The parent side of isolation: one forked worker per file, at most ``--jobs`` at a time.

Workers are forks of a zygote (multiprocessing's fork server, which imports torch, the analysis and
the rules once: :mod:`modelcheck.engine.zygote`), so a file costs a fork, not a Python start. The
parent never imports torch or the user's code; it only waits, with a per-model deadline:

- a result (JSON, :mod:`modelcheck.engine.codec`): the file's reports;
- a worker that ends without one: "crashed with signal 11 (SIGSEGV)", "exited with code 0 before
  reporting (the file's code called os._exit?)";
- a deadline passed: the worker is killed, "timed out after 120 s while building Net".

The timeout restarts when a model starts (``progress`` events); with the default timeout, a built
model's parameter count extends it (big models take longer to trace and bound). Every outcome is
one :class:`Outcome`; the order of the results is the order of the requests.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Sequence

from modelcheck.engine.prestart import PRELOAD, main_left_alone
from modelcheck.engine.worker import Request

DEFAULT_TIMEOUT = 120.0  # seconds per model (and for the file's import)
SECONDS_PER_PARAMETER = 1e-7  # the default timeout grows by 1 s per 10M parameters


@dataclass
class Outcome:
    """What came back from one worker: a message (``result``/``rules``/``escaped``) or a failure line."""

    message: dict[str, Any] | None = None
    failure: str | None = None  # one line, when the worker gave no message


@dataclass
class _Running:
    index: int
    process: Any
    conn: Connection
    output: Connection | None  # the worker's stdout and stderr (raw bytes), relayed to our stderr
    deadline: float
    limit: float
    stage: str = "importing the file"
    outcome: Outcome = field(default_factory=Outcome)


def cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def memory_ceiling(workers: int) -> int | None:
    """Bytes each worker may hold: 80% of the machine's memory, shared by the workers (>= 2 GiB)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
    return max(2 << 30, int(total * 0.8) // max(1, workers))


def _context(preload: Sequence[str]) -> Any:
    """The fork server's context; the preload applies when it starts (once per process)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([PRELOAD, *preload])
    return ctx


def run(
    requests: Sequence[Request],
    *,
    workers: int,
    timeout: float | None,
    preload: Sequence[str] = (),
) -> list[Outcome]:
    """Run every request in its own forked worker; ``timeout=None``: the default, sized from the model."""
    ctx = _context(preload)
    base = DEFAULT_TIMEOUT if timeout is None else timeout
    results: list[Outcome | None] = [None] * len(requests)
    pending = list(range(len(requests)))[::-1]
    running: dict[int, _Running] = {}
    try:
        while pending or running:
            while pending and len(running) < max(1, workers):
                i = pending.pop()
                running[i] = _start(ctx, i, requests[i], base)
            now = time.monotonic()
            soonest = min(r.deadline for r in running.values())
            watched = [r.conn for r in running.values()] + [r.output for r in running.values() if r.output is not None]
            ready = wait(watched, timeout=max(0.0, soonest - now))
            for conn in ready:
                run_ = next((r for r in running.values() if conn is r.conn or conn is r.output), None)
                if run_ is None:
                    continue
                if conn is run_.output:
                    _relay(run_)
                    continue
                if not _receive(run_, base, timeout is None):
                    results[run_.index] = _finish(run_)
                    del running[run_.index]
            now = time.monotonic()
            for i, run_ in list(running.items()):
                if now >= run_.deadline:
                    _kill(run_)
                    run_.outcome.failure = f"timed out after {run_.limit:.0f} s while {run_.stage} (raise `timeout` in [tool.modelcheck] or pass --timeout)"
                    results[i] = run_.outcome
                    del running[i]
    finally:
        for run_ in running.values():  # interrupted: leave no worker behind
            _kill(run_)
    return [r if r is not None else Outcome(failure="not run") for r in results]


def _start(ctx: Any, index: int, request: Request, base: float) -> _Running:
    from modelcheck.engine.worker import serve

    recv, send = ctx.Pipe(duplex=False)
    out_r, out_w = ctx.Pipe(duplex=False)
    process = ctx.Process(target=serve, args=(send, request, out_w), daemon=True)
    with main_left_alone():
        process.start()
    send.close()  # the child holds the only writer: its exit is our EOF
    out_w.close()
    return _Running(index, process, recv, out_r, time.monotonic() + base, base)


def _relay(run_: _Running, *, drain: bool = False) -> None:
    """Copy what the worker printed to our stderr (``sys.stderr``: a test runner may capture it)."""
    while run_.output is not None:
        try:
            if drain and not run_.output.poll(0):
                return
            data = os.read(run_.output.fileno(), 1 << 16)
        except OSError:
            data = b""
        if not data:
            run_.output.close()
            run_.output = None
            return
        sys.stderr.write(data.decode("utf-8", errors="replace"))
        sys.stderr.flush()
        if not drain:
            return


def _receive(run_: _Running, base: float, sized: bool) -> bool:
    """Read one message; False when the worker is done (result in, or the pipe closed)."""
    try:
        data = run_.conn.recv_bytes()
    except (EOFError, OSError):
        return False
    try:
        message = json.loads(data)
    except ValueError:
        run_.outcome.failure = "sent an unreadable result"
        return False
    kind = message.get("kind")
    if kind == "model":
        run_.stage = f"building {message.get('name', 'a model')}"
        run_.limit = base
        run_.deadline = time.monotonic() + base
        return True
    if kind == "built":
        extra = float(message.get("parameters", 0)) * SECONDS_PER_PARAMETER if sized else 0.0
        run_.stage = f"analysing {message.get('name', 'a model')}"
        run_.limit = base + extra
        run_.deadline = time.monotonic() + run_.limit
        return True
    run_.outcome.message = message
    return False


def _finish(run_: _Running) -> Outcome:
    _relay(run_, drain=True)
    if run_.outcome.message is not None:
        # The worker flushed its output before it sent this: all it has left is its exit, and freeing a
        # model's memory takes tens of milliseconds, or forever for one whose threads hold it up. Ended
        # here, not waited for (its fork server reaps it).
        _kill(run_, wait=False)
        return run_.outcome
    run_.process.join(timeout=2.0)
    if run_.process.is_alive():  # ended the pipe without a result but will not end: not our wait
        _kill(run_)
    code = run_.process.exitcode
    run_.conn.close()
    outcome = run_.outcome
    if outcome.message is None and outcome.failure is None:
        outcome.failure = _death(code, run_.stage)
    return outcome


def _death(code: int | None, stage: str) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown signal"
        why = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"the worker crashed with signal {-code} ({name}){why} while {stage}"
    return f"the worker exited with code {code} while {stage}, before reporting (the file's code ended the process: os._exit?)"


def _kill(run_: _Running, *, wait: bool = True) -> None:
    try:
        run_.process.kill()
        if wait:
            run_.process.join(timeout=5.0)
    except (OSError, ValueError, AssertionError):
        pass
    for conn in (run_.conn, run_.output):
        try:
            if conn is not None:
                conn.close()
        except OSError:
            pass
    run_.output = None
