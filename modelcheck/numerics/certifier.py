"""One pass's certificates, batched: a dry run records every matrix the per-op functions ask
about, :meth:`Certifier.solve` certifies them grouped by shape, and the real run reads the answers.

Per-matrix work (a Lanczos run, a Cholesky factorisation, a dozen small tensor ops) costs
milliseconds of Python and BLAS start-up; a ResNet-50 asks about ~100 matrices in ~15 shapes, a
GPT-2 about 48 in 4. Grouping them makes that cost per shape, not per matrix. Answers are looked
up by (node, k-th question of that node) and shape, so a real run that asks something the dry run
did not (a bound that came out 0 and switched a later op's inputs off) is answered directly.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable

import torch

from modelcheck.numerics import certify
from modelcheck.numerics.threads import threads_for

GROUP_BYTES = 2**26  # float64 Gram bytes per certify call (~67 MB, twice that with the Cholesky copy)

Key = tuple[str, int]


class Certifier:
    """``max_bound(mats)``: the max over ``mats[..., m, n]`` of certified σ_max bounds."""

    def __init__(self, direct: Callable[[torch.Tensor], float]) -> None:
        self._direct = direct
        self._recording = False
        self._node = ""
        self._k = 0
        self._asked: dict[Key, torch.Tensor] = {}
        self._answers: dict[Key, tuple[tuple[int, ...], float]] = {}

    def at(self, node: str) -> None:
        """The node whose questions follow."""
        self._node, self._k = node, 0

    def recording(self, on: bool) -> None:
        self._recording = on

    def max_bound(self, mats: torch.Tensor) -> float:
        key = (self._node, self._k)
        self._k += 1
        if mats.numel() == 0:
            return 0.0
        if self._recording:
            self._asked[key] = mats.detach()
            return 1.0  # a placeholder: the dry run's composition is thrown away
        got = self._answers.get(key)
        if got is not None and got[0] == tuple(mats.shape):
            return got[1]
        return self._direct(mats)

    def solve(self) -> None:
        """Certify every recorded question, one batch per (Gram size, dtype): weights of several
        shapes with one smaller side share a Lanczos run and a Cholesky call."""
        groups: dict[tuple, list[tuple[Key, torch.Tensor]]] = defaultdict(list)
        for key, mats in self._asked.items():
            flat = mats.reshape(-1, mats.shape[-2], mats.shape[-1])
            groups[(min(flat.shape[-2:]), flat.dtype)].append((key, flat))
        for (side, _), items in groups.items():
            per = max(1, GROUP_BYTES // (8 * side * side))
            chunk: list[tuple[Key, torch.Tensor]] = []
            size = 0
            for item in items:
                if chunk and size + item[1].shape[0] > per:
                    self._certify(chunk)
                    chunk, size = [], 0
                chunk.append(item)
                size += item[1].shape[0]
            if chunk:
                self._certify(chunk)
        self._asked.clear()

    def _certify(self, chunk: list[tuple[Key, torch.Tensor]]) -> None:
        unique: dict[tuple, int] = {}  # the same weight asked twice (tied, reused) is certified once
        stack: list[torch.Tensor] = []
        where: list[tuple[Key, tuple[int, ...], int, int]] = []
        rows = 0
        for key, flat in chunk:
            ident = (flat.data_ptr(), tuple(flat.shape), flat.stride(), flat.dtype, flat._version)
            if ident not in unique:
                unique[ident] = rows
                stack.append(flat)
                rows += flat.shape[0]
            start = unique[ident]
            where.append((key, tuple(self._asked[key].shape), start, start + flat.shape[0]))
        with threads_for(2.0 * sum(t.numel() * min(t.shape[-2:]) for t in stack)):
            bounds = torch.cat(certify.sigma_bounds_many(stack))
        for key, shape, lo, hi in where:
            self._answers[key] = (shape, float(bounds[lo:hi].max()))

