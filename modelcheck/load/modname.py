"""The name a file is imported under, and the ``sys.path`` it needs: the project's own, as its code does.

A file is imported under its real dotted name (``pkg/pkg.py`` is ``pkg.pkg``; ``nets/vision/net.py``
under a project root without ``__init__.py`` files is ``nets.vision.net``, a namespace package), with
the package root (the folder above the topmost ``__init__.py``), the project root (the nearest folder
with ``pyproject.toml``, ``setup.cfg`` or ``.git``, else the working folder) and the file's own folder
on ``sys.path``, in that order. Then ``from pkg.layers import ...`` inside the package, sibling imports
and the package's own ``__init__`` that imports the file all resolve to one module object: a file is
never imported twice under two names.

A name that would shadow a module the process already has or could import from elsewhere (a user file
called ``typing.py`` or ``utils.py`` next to an installed ``utils``) falls back to a private name.
"""

from __future__ import annotations

import importlib.machinery
import sys
from dataclasses import dataclass
from pathlib import Path

from modelcheck.load.discovery import package_root

PROJECT_MARKERS = ("pyproject.toml", "setup.cfg", ".git")


@dataclass(frozen=True)
class ImportPlan:
    """How to import one file: its module name, or None for a private name, and the path entries."""

    name: str | None
    path: tuple[Path, ...]  # package root, project root, the file's folder (first wins)


def project_root(start: Path, cwd: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` with a project marker, else the working folder
    (when ``start`` is inside it), else ``start`` itself."""
    for folder in (start, *start.parents):
        if any((folder / m).exists() for m in PROJECT_MARKERS):
            return folder
    here = (cwd or Path.cwd()).resolve()
    return here if start.is_relative_to(here) else start


def plan(file: Path, imported: frozenset[str] = frozenset(), cwd: Path | None = None) -> ImportPlan:
    """``imported``: the top-level names the file imports absolutely (``from nets.common import x``
    gives "nets"): a file outside any regular package is taken as part of a namespace package only
    when it imports that namespace itself; otherwise it is a top-level module (``from model import
    GPT`` in a sibling script then finds the same module)."""
    file = file.resolve()
    folder = file.parent
    top, package = package_root(folder)
    root = project_root(top, cwd)
    path = tuple(dict.fromkeys((top, root, folder)))
    if not file.stem.isidentifier():
        return ImportPlan(None, path)
    if package:
        name = f"{package}.{file.stem}" if file.stem != "__init__" else package
    else:
        rel = folder.relative_to(root).parts if folder.is_relative_to(root) else ()
        if rel and all(p.isidentifier() for p in rel) and rel[0] in imported and _namespace_ok(root, rel[0]):
            name = ".".join((*rel, file.stem))
            path = tuple(dict.fromkeys((root, folder)))
        else:
            name = file.stem
            path = tuple(dict.fromkeys((folder, root)))
    return ImportPlan(name if _unclaimed(name, path) else None, path)


def _namespace_ok(root: Path, head: str) -> bool:
    """``root/head`` can only be a namespace package if no ``head.py`` or regular package shadows it."""
    return (root / head).is_dir() and not (root / f"{head}.py").exists()


def _unclaimed(name: str, path: tuple[Path, ...]) -> bool:
    """The name's top-level package is the user's: not loaded from elsewhere, not importable from
    elsewhere (the standard library, site-packages), so importing it cannot shadow anything."""
    head = name.partition(".")[0]
    if head in sys.builtin_module_names or head in getattr(sys, "stdlib_module_names", ()):
        return False
    loaded = sys.modules.get(head)
    if loaded is not None:
        where = getattr(loaded, "__file__", None) or next(iter(getattr(loaded, "__path__", []) or []), None)
        return where is not None and any(Path(where).resolve().is_relative_to(p) for p in path)
    others = [p for p in sys.path if p and Path(p).resolve() not in path]
    spec = importlib.machinery.PathFinder.find_spec(head, others)
    return spec is None
