"""σ_max certificates computed ahead of the pass that asks for them (issue 14).

The weight matrices a Lipschitz pass will certify are mostly known as soon as the model is built
(Linear and Conv1D weights, a conv's reshape matrix). :class:`Ahead` certifies them in a background
thread while the engine checks the inputs and traces, then the main thread joins in for whatever is
left when the pass asks.

While the background thread runs, it runs one intra-op thread and the thread that started it one
fewer than before (``torch.set_num_threads`` is per thread with OpenMP): one core for it. A two-thread OpenMP
team beside a third thread spins on a core the other holds (ResNet-50's forward ran 3-10x slower so
on the shared 2-core machine); a background thread at nice 19 beside a two-thread main thread got
too little CPU there to matter (the pass still did ~85% of ResNet-50's certificates itself).
When the pass asks and the background thread is starved inside a batch (a busy machine), the main
thread certifies that batch itself rather than wait: the same code on one thread, the same bits.

An answer is served only for the very tensor it was computed on: same storage, shape, strides,
dtype and autograd version, and the same float32 sum of its entries (an edit through ``.data``
does not bump the version). Anything else is a miss and the pass certifies it itself.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import defaultdict
from typing import Iterator, Sequence

import torch

from modelcheck.numerics import certify, spectral

GROUP_BYTES = 2**26  # as the Certifier's groups: float64 Gram bytes per certify call
STARVED_AFTER_S = 0.25  # a background thread with under a tenth of a core over this long is starved

Ident = tuple[int, tuple[int, ...], tuple[int, ...], torch.dtype, int]


def ident(t: torch.Tensor) -> Ident:
    return (t.data_ptr(), tuple(t.shape), t.stride(), t.dtype, t._version)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """One intra-op thread for the calling thread only, and no autograd."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            yield
    finally:
        torch.set_num_threads(before)


def _cpu_clock(thread: threading.Thread) -> int | None:
    try:
        return time.pthread_getcpuclockid(thread.ident) if thread.ident is not None else None
    except (AttributeError, OSError):
        return None


def _cpu_seconds(clock: int | None) -> float:
    if clock is None:
        return 0.0
    try:
        return time.clock_gettime(clock)
    except OSError:  # the thread ended
        return math.inf


def fingerprint(t: torch.Tensor) -> float:
    """The float32 sum of the entries, one thread (the same order every time)."""
    with one_thread():
        return float(t.sum())


class Ahead:
    """Certified σ_max bounds of ``mats`` (each ``[b, m, n]``: one Gram certificate per matrix) and
    of ``cheap`` (2-D, over the Gram budget: :func:`~modelcheck.numerics.spectral.cheap_bound`),
    computed in the background."""

    def __init__(self, mats: Sequence[torch.Tensor], cheap: Sequence[torch.Tensor] = ()) -> None:
        groups: dict[tuple, list[torch.Tensor]] = defaultdict(list)
        seen: set[Ident] = set()
        for m in mats:
            flat = m.detach().reshape(-1, m.shape[-2], m.shape[-1])
            key = ident(flat)
            if flat.numel() == 0 or flat.is_meta or key in seen:
                continue
            seen.add(key)
            groups[(tuple(flat.shape[-2:]), flat.dtype)].append(flat)
        self._units: list[list[torch.Tensor]] = [[m.detach()] for m in cheap if m.dim() == 2 and not m.is_meta]
        for items in groups.values():  # chunked as the Certifier chunks: the same batches, the same numbers
            side = min(items[0].shape[-2:])
            per = max(1, GROUP_BYTES // (8 * side * side))
            chunk: list[torch.Tensor] = []
            size = 0
            for flat in items:
                if chunk and size + flat.shape[0] > per:
                    self._units.append(chunk)
                    chunk, size = [], 0
                chunk.append(flat)
                size += flat.shape[0]
            if chunk:
                self._units.append(chunk)
        # largest first: two workers then end close together
        self._units.sort(key=lambda u: -sum(t.numel() * (min(t.shape[-2:]) if t.dim() == 3 else 4) for t in u))
        self._lock = threading.Lock()
        self._done: dict[Ident, tuple[torch.Tensor, float, torch.Tensor]] = {}
        self._stop = False
        self._thread: threading.Thread | None = None
        self._busy: list[torch.Tensor] | None = None  # the background thread's batch in progress
        self._owner_threads = 0  # the starting thread's intra-op threads, given back by finish/close
        self.failed: str | None = None
        self.served = 0  # answers looked up and found valid

    def __len__(self) -> int:
        return sum(len(u) for u in self._units)

    def __enter__(self) -> Ahead:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> Ahead:
        """Start the background thread; until :meth:`finish` or :meth:`close` (called from this same
        thread) this thread runs one intra-op thread fewer, leaving the background one its core."""
        if self._units:
            self._owner_threads = torch.get_num_threads()
            torch.set_num_threads(max(1, self._owner_threads - 1))
            # not a daemon: an interpreter that exits waits for its batch (torch mid-op at exit aborts)
            self._thread = threading.Thread(target=self._work, args=(True,), name="modelcheck-ahead", daemon=False)
            self._thread.start()
        return self

    def _next(self, background: bool) -> list[torch.Tensor] | None:
        with self._lock:
            if self._stop or not self._units:
                return None
            unit = self._units.pop(0)
            if background:
                self._busy = unit
            return unit

    def _work(self, background: bool = False) -> None:
        try:
            while (unit := self._next(background)) is not None:
                self._certify(unit)
                if background:
                    with self._lock:
                        self._busy = None
        except Exception as exc:  # e.g. out of memory: the pass certifies what is missing itself
            with self._lock:
                self.failed = f"{type(exc).__name__}: {exc}"
                self._stop = True

    def _certify(self, unit: list[torch.Tensor]) -> None:
        with one_thread():
            if unit[0].dim() == 2:  # a cheap bound's matrix
                bounds = [torch.tensor([spectral.cheap_bound(unit[0])], dtype=torch.float64)]
            else:
                bounds = certify.sigma_bounds_many(unit)
            done = {ident(t): (t, float(t.sum()), b) for t, b in zip(unit, bounds)}
        with self._lock:
            self._done.update(done)

    def finish(self) -> None:
        """Work off what is left here too; then wait for the background thread's batch, or certify
        that batch here when the thread is starved (under a tenth of a core over the wait so far)."""
        thread = self._thread
        if thread is None:
            return
        self._work()
        clock = _cpu_clock(thread)
        with self._lock:
            busy = self._busy
        start, used = time.monotonic(), _cpu_seconds(clock)
        while thread.is_alive():
            thread.join(STARVED_AFTER_S)
            with self._lock:
                now_busy = self._busy
            if now_busy is not busy:  # its batch is done (the thread ends: the queue is empty)
                thread.join()
                break
            waited = time.monotonic() - start
            if busy is not None and clock is not None and waited >= STARVED_AFTER_S \
                    and _cpu_seconds(clock) - used < 0.1 * waited:
                self._certify(busy)
                break
        self.close()

    def close(self) -> None:
        """Take no more work; a batch in progress ends on its own, unwaited (the model is done with).
        The calling thread gets its intra-op threads back."""
        with self._lock:
            self._stop = True
        self._thread = None
        if self._owner_threads:
            torch.set_num_threads(self._owner_threads)
            self._owner_threads = 0

    def lookup(self, flat: torch.Tensor) -> torch.Tensor | None:
        """The bounds of ``flat`` (``[b, m, n]``, or ``[m, n]`` for a cheap bound) if they were certified
        on this very tensor, else None. Call :meth:`finish` first."""
        got = self._done.get(ident(flat))
        if got is None or fingerprint(flat) != got[1]:
            return None
        self.served += 1
        return got[2]
