"""Where each module was constructed: the user's line that built it, for findings and ``# noqa``.

``record_sites(roots)`` wraps ``nn.Module.__init__`` while the model is built. Every module that
runs ``Module.__init__`` gets the innermost stack frame whose file lies under one of ``roots``
(the user's files; never torch or site-packages), skipping the module's own ``__init__`` chain so
that ``class Block(nn.Module)`` points at ``self.block = Block()`` and not at ``super().__init__()``.

    with record_sites([project_dir]) as sites:
        model = Model()
    sites[id(model.fc)]  # SourceLoc(file=".../model.py", line=12)

Modules copied with ``copy.deepcopy`` (e.g. the layers of ``nn.TransformerEncoder``) never run
``__init__`` and have no entry; callers fall back to the parent module's site.
"""

from __future__ import annotations

import contextlib
import sys
import weakref
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch

from modelcheck.frames import UnderRoots
from modelcheck.ir import SourceLoc

__all__ = ["record_sites"]


def _site(module: torch.nn.Module, under: UnderRoots) -> SourceLoc | None:
    frame = sys._getframe(2)  # skip _site and the wrapper
    while frame is not None:
        code = frame.f_code
        if under(code.co_filename):
            # Skip the constructor chain of the module itself (super().__init__() lines).
            own = (code.co_name == "__init__" and code.co_argcount > 0
                   and frame.f_locals.get(code.co_varnames[0]) is module)
            if not own:
                return SourceLoc(code.co_filename, frame.f_lineno)
        frame = frame.f_back  # type: ignore[assignment]
    return None


@contextlib.contextmanager
def record_sites(roots: Iterable[str | Path]) -> Iterator[dict[int, SourceLoc]]:
    """Record ``id(module) -> SourceLoc`` for every module constructed inside the block.

    ``nn.Module.__init__`` is restored on exit (also when the block raises); entries of modules that
    were garbage-collected meanwhile are dropped so a reused ``id`` cannot point at a stale line.
    """
    under = UnderRoots(roots)
    sites: dict[int, SourceLoc] = {}
    alive: dict[int, weakref.ref[torch.nn.Module]] = {}
    original: Callable[..., None] = torch.nn.Module.__init__

    def __init__(self: torch.nn.Module, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        try:
            loc = _site(self, under)
        except Exception:  # never let bookkeeping break the user's constructor
            loc = None
        if loc is not None:
            sites[id(self)] = loc
            alive[id(self)] = weakref.ref(self)

    __init__.__wrapped__ = original  # type: ignore[attr-defined]
    torch.nn.Module.__init__ = __init__  # type: ignore[method-assign]
    try:
        yield sites
    finally:
        torch.nn.Module.__init__ = original  # type: ignore[method-assign]
        for key, ref in alive.items():
            obj = ref()
            if obj is None or id(obj) != key:
                sites.pop(key, None)
