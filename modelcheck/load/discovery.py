"""Which files to lint, and which of them may define models (SPEC §1) — without importing torch.

Two cheap steps run before anything is imported:

- :func:`collect_files` expands the command-line paths into Python files (folders recursively,
  skipping hidden folders, ``__pycache__``, virtual environments and build output);
- :func:`scan_source` parses a file's AST and records the classes that look like ``nn.Module``
  subclasses and the factory functions annotated to return one. A file with neither is skipped
  silently, so ``modelcheck lint`` on a commit without model files never pays for ``import torch``.

The scan is a gate, not a verdict: which classes really are models is decided after import, with
``issubclass`` (see :mod:`modelcheck.load.build`).
"""

from __future__ import annotations

import ast
import fnmatch
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from modelcheck.errors import SyntaxFileError
from modelcheck.load.toplevel import calls_by_definition, required_imports, returned_names, script_line

# Folders never searched when a folder is given (hidden ones are skipped as well).
SKIP_DIRS = frozenset(
    {"__pycache__", "build", "dist", "node_modules", "site-packages", "venv"}
)
TORCH_ROOTS = ("torch", "transformers")


@dataclass(frozen=True)
class SourceFile:
    """A file to lint: ``path`` resolved, ``display`` as the user wrote it (reports show this)."""

    path: Path
    display: str
    explicit: bool = True  # named on the command line (not found by searching a folder)


@dataclass(frozen=True)
class ImportRef:
    """One import statement's target: ``from .x import y`` is ``ImportRef("x", ("y",), 1)``."""

    module: str
    names: tuple[str, ...] = ()
    level: int = 0


@dataclass(frozen=True)
class FileScan:
    """What the AST says about a file, before it is imported."""

    classes: tuple[str, ...] = ()  # top-level classes whose bases look like nn.Module
    maybe_classes: tuple[str, ...] = ()  # other subclassing classes in a file importing torch
    factories: tuple[str, ...] = ()  # public top-level functions annotated to return a module
    names: frozenset[str] = frozenset()  # every top-level binding, for --model
    lines: Mapping[str, int] = field(default_factory=dict)  # name -> line of its definition
    imports: tuple[ImportRef, ...] = ()
    script_line: int | None = None  # the first top-level statement that runs code: a script
    uses: Mapping[str, frozenset[str]] = field(default_factory=dict)  # definition -> names its body uses
    returns: Mapping[str, frozenset[str]] = field(default_factory=dict)  # function -> names its return builds
    required_heads: frozenset[str] = frozenset()  # packages imported unguarded at import time

    @property
    def absolute_heads(self) -> frozenset[str]:
        """The top-level packages the file imports absolutely (``import a.b`` gives "a")."""
        return frozenset(i.module.partition(".")[0] for i in self.imports if i.level == 0 and i.module)

    @property
    def may_define_models(self) -> bool:
        return bool(self.classes or self.maybe_classes or self.factories)


def collect_files(
    paths: Sequence[str], *, exclude: Sequence[str] = (), root: Path | None = None
) -> tuple[list[SourceFile], list[str]]:
    """Expand ``paths`` into files to lint; returns (files, paths that do not exist).

    Files are deduplicated (first mention wins); a folder's files come sorted. ``exclude`` globs
    apply to what folder searches find, never to a file named explicitly (as in ruff).
    """
    files: list[SourceFile] = []
    missing: list[str] = []
    seen: set[Path] = set()

    def add(path: Path, display: str, explicit: bool) -> None:
        resolved = path.resolve()
        if resolved not in seen:
            seen.add(resolved)
            files.append(SourceFile(resolved, display, explicit))

    for given in paths:
        p = Path(given)
        if p.is_file():
            add(p, given, True)
        elif p.is_dir():
            for found in _walk(p, exclude, root):
                add(found, os.path.normpath(os.path.join(given, os.path.relpath(found, p))), False)
        else:
            missing.append(given)
    return files, missing


def _walk(folder: Path, exclude: Sequence[str], root: Path | None) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not _skip_dir(here / d) and not _excluded(here / d, exclude, root)
        )
        for name in sorted(filenames):
            # is_file: a FIFO or a socket named *.py would block the read forever
            if name.endswith(".py") and (here / name).is_file() and not _excluded(here / name, exclude, root):
                yield here / name


def _skip_dir(path: Path) -> bool:
    name = path.name
    return (
        name.startswith(".")
        or name in SKIP_DIRS
        or name.endswith(".egg-info")
        or (path / "pyvenv.cfg").exists()  # a virtual environment, whatever its name
    )


def _excluded(path: Path, exclude: Sequence[str], root: Path | None) -> bool:
    if not exclude:
        return False
    candidates = [path.name, path.as_posix()]
    if root is not None:
        try:
            candidates.append(path.resolve().relative_to(root).as_posix())
        except ValueError:
            pass
    return any(fnmatch.fnmatch(c, pat) for c in candidates for pat in exclude)


def package_root(folder: Path) -> tuple[Path, str]:
    """The folder above the package holding ``folder`` and the package's dotted name ("" if none)."""
    parts: list[str] = []
    top = folder
    while (top / "__init__.py").is_file() and top.name.isidentifier():
        parts.insert(0, top.name)
        top = top.parent
    return top, ".".join(parts)


# --- the AST pre-scan ---------------------------------------------------------------------------


def scan_file(path: Path, display: str | None = None) -> FileScan:
    """Read and scan a file (``SyntaxFileError`` if it does not parse)."""
    return scan_source(read_source(path), display or str(path))


def read_source(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")  # a byte-order mark is valid Python, not a syntax error
    except UnicodeDecodeError:
        return data.decode("latin-1")


def scan_source(source: str, filename: str = "<string>") -> FileScan:
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        where = f" at {exc.lineno}:{exc.offset or 0}" if exc.lineno else ""
        raise SyntaxFileError(f"syntax error{where}: {exc.msg}", hint="fix the syntax error") from None
    return _Scanner(tree).result()


class _Scanner:
    """Walks a module's top level once. Only the top level matters: that is what import binds."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.torch_aliases: set[str] = set()  # names bound to torch / torch.nn / transformers modules
        self.torch_names: set[str] = set()  # names imported from those packages (Module, Sequential)
        self.imports: list[ImportRef] = []
        self.names: set[str] = set()
        self.lines: dict[str, int] = {}

    def result(self) -> FileScan:
        classes: dict[str, ast.ClassDef] = {}
        functions: dict[str, ast.FunctionDef] = {}
        for stmt in self.tree.body:
            self._bindings(stmt)
            if isinstance(stmt, ast.ClassDef):
                classes[stmt.name] = stmt
            elif isinstance(stmt, ast.FunctionDef):
                functions[stmt.name] = stmt
        # Every import counts for the cache (see modelcheck.engine.cache), even inside functions.
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                self.imports.extend(ImportRef(a.name) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                names = tuple(a.name for a in node.names)
                self.imports.append(ImportRef(node.module or "", names, node.level))

        module_like: set[str] = set()
        changed = True
        while changed:  # transitively: class B(A) where A(nn.Module) is defined in the file
            changed = False
            for name, cls in classes.items():
                if name not in module_like and any(
                    self._module_base(b, module_like) for b in cls.bases
                ):
                    module_like.add(name)
                    changed = True
        uses_torch = bool(self.torch_aliases or self.torch_names)
        maybe = {
            n
            for n, c in classes.items()
            if n not in module_like
            and uses_torch
            and any(_dotted(b) not in (None, "object") and not _never_a_module(b) for b in c.bases)
        }
        factories = [
            n
            for n, fn in functions.items()
            if not n.startswith("_")
            and fn.returns is not None
            and self._returns_module(fn.returns, set(classes))
        ]
        order = sorted(self.lines, key=self.lines.__getitem__)
        return FileScan(
            classes=tuple(n for n in order if n in module_like),
            maybe_classes=tuple(n for n in order if n in maybe),
            factories=tuple(n for n in order if n in factories),
            names=frozenset(self.names),
            lines=dict(self.lines),
            imports=tuple(self.imports),
            script_line=script_line(self.tree),
            uses=calls_by_definition(self.tree),
            returns=returned_names(self.tree),
            required_heads=required_imports(self.tree),
        )

    def _bindings(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            self.names.add(stmt.name)
            self.lines.setdefault(stmt.name, stmt.lineno)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            self._import(stmt)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        self.names.add(n.id)
                        self.lines.setdefault(n.id, stmt.lineno)
        elif isinstance(stmt, (ast.If, ast.Try)):  # `try: import x except ImportError: ...`
            for child in ast.iter_child_nodes(stmt):
                if isinstance(child, ast.stmt):
                    self._bindings(child)
                elif isinstance(child, ast.ExceptHandler):
                    for s in child.body:
                        self._bindings(s)

    def _import(self, stmt: ast.Import | ast.ImportFrom) -> None:
        if isinstance(stmt, ast.Import):
            for a in stmt.names:
                bound = a.asname or a.name.split(".")[0]
                self.names.add(bound)
                if a.name.split(".")[0] in TORCH_ROOTS:
                    self.torch_aliases.add(bound)
            return
        module = stmt.module or ""
        from_torch = stmt.level == 0 and module.split(".")[0] in TORCH_ROOTS
        for a in stmt.names:
            bound = a.asname or a.name
            self.names.add(bound)
            if from_torch:
                # `from torch import nn` binds a module; `from torch.nn import Module` a class.
                (self.torch_aliases if a.name in ("nn", "torch") else self.torch_names).add(bound)

    def _module_base(self, base: ast.expr, module_like: set[str]) -> bool:
        dotted = _dotted(base)
        if dotted is None:
            return False
        parts = dotted.split(".")
        return (
            parts[-1] == "Module"
            or dotted in module_like
            or (len(parts) > 1 and parts[0] in self.torch_aliases)
            or (len(parts) == 1 and dotted in self.torch_names)
        )

    def _returns_module(self, ann: ast.expr, classes: set[str]) -> bool:
        if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
            try:
                ann = ast.parse(ann.value, mode="eval").body
            except SyntaxError:
                return False
        return self._module_base(ann, classes)  # the same test as a base class: nn.Module or a class of the file


# Bases that never make a class an nn.Module: a file whose classes only have these is no model file.
_NOT_MODULE_BASES = re.compile(
    r"(Dataset|DataLoader|Sampler|Enum|IntEnum|Exception|Error|Warning|Protocol|NamedTuple|TypedDict|ABC|"
    r"Generic|Command|Callback|Config|Tokenizer|Function|Thread|Process)$"
)


def _never_a_module(base: ast.expr) -> bool:
    dotted = _dotted(base)
    return dotted is not None and bool(_NOT_MODULE_BASES.search(dotted.split(".")[-1]))


def _dotted(expr: ast.expr) -> str | None:
    """``nn.Module`` -> "nn.Module"; ``Base[T]`` -> "Base"; anything else -> None."""
    if isinstance(expr, ast.Subscript):
        return _dotted(expr.value)
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        head = _dotted(expr.value)
        return f"{head}.{expr.attr}" if head else None
    return None
