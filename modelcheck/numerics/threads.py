"""How many intra-op threads a piece of numerical work should use."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch


@contextlib.contextmanager
def threads_for(flops: float, small: float = 5e7) -> Iterator[None]:
    """One intra-op thread for small work: OpenMP spin-waits make tiny ops 10-100x slower when the
    cores are shared (CI runners, parallel lint jobs), and one thread is as fast for them anyway."""
    before = torch.get_num_threads()
    if flops >= small or before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
