"""A per-file result cache, as ruff and black keep one: unchanged files are not imported again.

Where: ``$MODELCHECK_CACHE_DIR``, else ``.modelcheck_cache/`` in the project root
(``modelcheck clean`` or ``--clear-cache`` removes it; ``--no-cache`` neither reads nor writes it).

An entry is data, never code: JSON with a format version and a SHA-256 checksum of its payload
(:mod:`modelcheck.engine.codec` rebuilds only modelcheck's own report records). An entry that does
not parse, fails its checksum or holds anything else is a miss, and the next lint rewrites it; a
planted file cannot run anything.

Key: the entry's name hashes the file's content, the project files its ``import`` statements reach
(resolved on the AST, transitively), the effective settings, the path as given and the working
folder (reports quote both), and the environment (Python, torch and modelcheck versions, the sources
of modelcheck and of the installed rule packages). The entry also lists what the lint observed the
file depend on while it ran (:class:`modelcheck.engine.sandbox.Recorder`): every local module it
imported (``importlib.import_module``, ``sys.path.insert`` included) and local file it opened, by
content hash; every installed package it imported, by its files' stamp (an upgrade or uninstall
rewrites them); every environment variable it read, by value. An entry is served only if all of
them still match.

Never stored: results with a tool error (an error report, an error line, an MC000 finding): a
missing package may be installed, or a bug fixed, without any file changing.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping

import modelcheck
from modelcheck.config.settings import Settings
from modelcheck.diagnostics import ModelReport, RunReport
from modelcheck.engine import codec
from modelcheck.engine.prestart import CACHE_ENV, CACHE_FOLDER  # named there: prestart looks before anything loads
from modelcheck.engine.records import FileResult
from modelcheck.errors import SyntaxFileError
from modelcheck.load.discovery import FileScan, ImportRef, SourceFile, package_root, scan_file

FORMAT = 2  # bump when the stored layout changes (1: pickle, never read again)


def cache_dir(settings: Settings) -> Path:
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else settings.root / CACHE_FOLDER


def clear(settings: Settings) -> Path | None:
    """Remove the cache folder; the folder removed, or None if there was none."""
    folder = cache_dir(settings)
    if not folder.is_dir():
        return None
    shutil.rmtree(folder, ignore_errors=True)
    return folder


class Cache:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = cache_dir(settings) / f"v{FORMAT}"

    # --- keys -------------------------------------------------------------------------------------

    def key(self, src: SourceFile, scan: FileScan) -> str:
        h = hashlib.sha256()
        for part in (environment(), self.settings.fingerprint(), src.display, os.getcwd()):
            h.update(part.encode())
            h.update(b"\0")
        h.update(digest(src.path).encode())
        for dep in local_imports(src.path, scan, self.settings.root):
            h.update(f"\0{dep}:{digest(dep)}".encode())
        return h.hexdigest()

    def rules_key(self) -> str:
        return "rules-" + hashlib.sha256(environment().encode()).hexdigest()

    # --- file results -----------------------------------------------------------------------------

    def get(self, key: str) -> FileResult | None:
        payload = self._read(key)
        if payload is None or not _still_valid(payload.get("deps")):
            return None
        try:
            models, messages = codec.decode(payload["result"])
        except (codec.DecodeError, KeyError, TypeError, ValueError):
            return None
        if not all(isinstance(m, ModelReport) for m in models):
            return None
        return tuple(models), tuple(messages)

    def put(self, key: str, result: FileResult, deps: Mapping[str, Any] | None) -> None:
        if deps is None or not cacheable(result):
            return
        self._write(key, {"deps": deps, "result": codec.encode(result)})

    # --- the installed rules' metadata -------------------------------------------------------------

    def get_rules(self) -> dict[str, Any] | None:
        payload = self._read(self.rules_key())
        return payload.get("rules") if payload is not None else None

    def put_rules(self, catalog: Mapping[str, Any]) -> None:
        self._write(self.rules_key(), {"rules": dict(catalog)})

    # --- the stored form --------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.dir / key[-2:] / key

    def _read(self, key: str) -> dict[str, Any] | None:
        try:
            entry = json.loads(self._path(key).read_bytes())
            text = entry["payload"]
            if entry.get("format") != FORMAT or entry.get("sha256") != _sha(text):
                return None
            payload = json.loads(text)
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            return None  # missing, truncated, planted or from another version: a miss
        return payload if isinstance(payload, dict) and payload.get("key") == key else None

    def _write(self, key: str, payload: dict[str, Any]) -> None:
        text = json.dumps({"key": key, **payload}, separators=(",", ":"))
        entry = json.dumps({"format": FORMAT, "sha256": _sha(text), "payload": text})
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            ignore = self.dir.parent / ".gitignore"
            if not ignore.exists():
                ignore.write_text("# created by modelcheck\n*\n")
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(entry)
            os.replace(tmp, path)  # atomic: a parallel run never reads half a file
        except OSError:
            pass  # a read-only checkout simply has no cache


def cacheable(result: FileResult) -> bool:
    """Only clean results: no error report, no error line, no internal-error finding."""
    return RunReport(*result).tool_errors == 0


def _still_valid(deps: Any) -> bool:
    if not isinstance(deps, dict):
        return False
    try:
        env, files, installed = deps["env"], deps["files"], deps["installed"]
        if any(os.environ.get(k) != v for k, v in env.items()):
            return False
        if any(digest(Path(p)) != d for p, d in files.items()):
            return False
        return all(stamp(Path(p)) == s for p, s in installed.items())
    except (KeyError, TypeError, AttributeError):
        return False


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def digest(path: Path) -> str:
    """A file's content hash (the worker's recorder uses it too: the two must agree)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "missing"


def stamp(path: Path) -> str:
    """An installed file's size and mtime (cheaper than a hash; an upgrade rewrites it)."""
    try:
        st = path.stat()
    except OSError:
        return "missing"
    return f"{st.st_size}:{st.st_mtime_ns}"


@functools.lru_cache(maxsize=1)
def environment() -> str:
    """Versions and rule sources: anything outside the project that can change a report."""
    parts = [f"python {sys.version}", f"modelcheck {modelcheck.__version__}", f"torch {_version('torch')}"]
    eps = importlib.metadata.entry_points(group="modelcheck.rules")
    tops = sorted({"modelcheck", "modelcheck_rules", *(ep.value.split(":")[0].split(".")[0] for ep in eps)})
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


# --- which project files a file imports (on the AST, before it runs) ----------------------------


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
