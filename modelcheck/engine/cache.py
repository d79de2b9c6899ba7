"""A per-file result cache, as ruff and black keep one: unchanged files are not imported again.

Where: ``$MODELCHECK_CACHE_DIR``, else ``.modelcheck_cache/`` in the project root.

Key: a hash of the file's content and of every project file it imports (local modules found through
its ``import`` statements, resolved against the file's folder, its package and the project root,
transitively), the effective settings, the path as given and the working folder (reports quote
both), and the environment: Python, torch and modelcheck versions and the source of the installed
rule packages (so editing a rule in a development checkout invalidates the cache too).

Value: the file's pickled model reports and file messages. Results with tool errors are not stored:
a missing package may be installed without any file changing.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import os
import pickle
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable

import modelcheck
from modelcheck.config.settings import Settings
from modelcheck.errors import SyntaxFileError
from modelcheck.load.discovery import (
    FileScan,
    ImportRef,
    SourceFile,
    package_root,
    scan_file,
)

ENV_DIR = "MODELCHECK_CACHE_DIR"
FOLDER = ".modelcheck_cache"
FORMAT = 1  # bump when the stored layout changes


def cache_dir(settings: Settings) -> Path:
    env = os.environ.get(ENV_DIR)
    return Path(env) if env else settings.root / FOLDER


class Cache:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = cache_dir(settings) / f"v{FORMAT}"

    def key(self, src: SourceFile, scan: FileScan) -> str:
        h = hashlib.sha256()
        for part in (environment(), self.settings.fingerprint(), src.display, os.getcwd()):
            h.update(part.encode())
            h.update(b"\0")
        h.update(_digest(src.path).encode())
        for dep in local_imports(src.path, scan, self.settings.root):
            h.update(f"\0{dep}:{_digest(dep)}".encode())
        return h.hexdigest()

    def get(self, key: str) -> Any | None:
        try:
            with (self.dir / key[:2] / key).open("rb") as f:
                return pickle.load(f)
        except Exception:  # missing, truncated or written by another version: a miss
            return None

    def put(self, key: str, value: Any) -> None:
        folder = self.dir / key[:2]
        try:
            folder.mkdir(parents=True, exist_ok=True)
            ignore = self.dir.parent / ".gitignore"
            if not ignore.exists():
                ignore.write_text("# created by modelcheck\n*\n")
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, folder / key)  # atomic: parallel workers never read half a file
        except OSError:
            pass  # a read-only checkout simply has no cache


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "missing"


@functools.lru_cache(maxsize=1)
def environment() -> str:
    """Versions and rule sources: anything outside the project that can change a report."""
    parts = [f"python {sys.version}", f"modelcheck {modelcheck.__version__}", f"torch {_version('torch')}"]
    eps = importlib.metadata.entry_points(group="modelcheck.rules")
    tops = sorted({"modelcheck", *(ep.value.split(":")[0].split(".")[0] for ep in eps)})
    for top in tops:
        spec = importlib.util.find_spec(top)  # finds without importing (no torch here)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            parts.extend(_tree_stamp(Path(folder)))
        if spec and spec.origin and not spec.submodule_search_locations:
            parts.extend(_tree_stamp(Path(spec.origin)))
    for ep in eps:
        dist = getattr(ep, "dist", None)
        parts.append(f"{ep.name}={ep.value} {getattr(dist, 'version', '')}")
    return "\n".join(parts)


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "none"


def _tree_stamp(path: Path) -> Iterable[str]:
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    for f in files:
        try:
            st = f.stat()
        except OSError:
            continue
        yield f"{f}:{st.st_size}:{st.st_mtime_ns}"


# --- which project files a file imports ---------------------------------------------------------


def local_imports(path: Path, scan: FileScan, root: Path) -> list[Path]:
    """Project files imported by ``path``, transitively (sorted; ``path`` itself left out)."""
    found: set[Path] = set()
    queue: list[tuple[Path, FileScan]] = [(path, scan)]
    while queue:
        here, here_scan = queue.pop()
        for ref in here_scan.imports:
            for target in _resolve(ref, here, root):
                if target != path and target not in found:
                    found.add(target)
                    try:
                        queue.append((target, scan_file(target)))
                    except (SyntaxFileError, OSError):
                        pass  # still hashed; its own imports are unknowable
    return sorted(found)


def _resolve(ref: ImportRef, importer: Path, root: Path) -> list[Path]:
    if ref.level:
        base = importer.parent
        for _ in range(ref.level - 1):
            base = base.parent
        bases = [base]
    else:
        top, _ = package_root(importer.parent)
        bases = list(dict.fromkeys((importer.parent, top, root)))
    parts = [p for p in ref.module.split(".") if p]
    out: list[Path] = []
    for base in bases:
        for i in range(1, len(parts) + 1):  # a.b.c -> a/__init__.py, a/b/__init__.py, a/b/c.py
            out.extend(_module_files(base.joinpath(*parts[:i])))
        for name in ref.names:  # `from pkg import mod` may name a submodule
            out.extend(_module_files(base.joinpath(*parts, name)))
    return [p.resolve() for p in dict.fromkeys(out)]


def _module_files(stem: Path) -> list[Path]:
    return [p for p in (stem.with_name(stem.name + ".py"), stem / "__init__.py") if p.is_file()]
