"""Which stack frames are the user's: everything but the standard library, installed packages,
torch and modelcheck itself. Used to give functional ops a source line and failures a location."""

from __future__ import annotations

import os
import re
import sys
import sysconfig
from types import FrameType, TracebackType

import torch

import modelcheck
from modelcheck.ir import SourceLoc


def _library_dirs() -> tuple[str, ...]:
    dirs = {os.path.dirname(torch.__file__), os.path.dirname(modelcheck.__file__)}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        p = sysconfig.get_paths().get(key)
        if p:
            dirs.add(p)
    dirs.update(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))
    return tuple(os.path.abspath(d).rstrip(os.sep) + os.sep for d in dirs)


_LIBRARY = _library_dirs()
_USER: dict[str, bool] = {}
_FRAME_RE = re.compile(r'File "([^"]+)", line (\d+)')


def is_user_file(filename: str) -> bool:
    hit = _USER.get(filename)
    if hit is None:
        if not filename or filename.startswith("<"):
            hit = False
        else:
            path = os.path.abspath(filename)
            hit = not any(path.startswith(d) for d in _LIBRARY)
        _USER[filename] = hit
    return hit


def from_stack_trace(text: str | None) -> SourceLoc | None:
    """Innermost user frame of a formatted stack trace (fx ``node.stack_trace``, export meta)."""
    if not text:
        return None
    found = None
    for m in _FRAME_RE.finditer(text):
        if is_user_file(m.group(1)):
            found = m
    return SourceLoc(found.group(1), int(found.group(2))) if found else None


def from_frame(frame: FrameType | None) -> SourceLoc | None:
    """Innermost user frame at or above ``frame`` (a live stack, for the hooks tracer)."""
    while frame is not None:
        name = frame.f_code.co_filename
        if is_user_file(name):
            return SourceLoc(name, frame.f_lineno)
        frame = frame.f_back
    return None


def from_traceback(tb: TracebackType | None) -> SourceLoc | None:
    """Innermost user frame of an exception's traceback: where the model did what failed."""
    found = None
    while tb is not None:
        if is_user_file(tb.tb_frame.f_code.co_filename):
            found = SourceLoc(tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def short(loc: SourceLoc | None) -> str:
    """``file:line`` relative to the working directory when below it, for one-line notes."""
    if loc is None:
        return ""
    path = loc.file
    try:
        rel = os.path.relpath(path)
        if not rel.startswith(".."):
            path = rel
    except ValueError:
        pass
    return f"{path}:{loc.line}"
