"""What a file's top level does and builds, decided on the AST before anything is imported.

- :func:`script_line`: the first top-level statement that runs code (a training loop, ``main()``,
  ``args = parser.parse_args()``): such a file is a script and is not imported (``--import-scripts``
  opts in). Imports, definitions, constants, ``if __name__ == "__main__":`` and ``try``/``except
  ImportError`` are what a module's top level may hold.
- :func:`calls_by_definition`: for each top-level class and function, the names it calls anywhere in its
  body (``Block(config)`` in ``GPT.__init__``): a class another model builds is a part, not a model.
- :func:`returned_names`: for each top-level function, the names its ``return`` builds (``return
  ConvNeXt(...)``, ``model = DiT(...); return model``, ``return build(ConvNeXt, ...)``): a factory is a
  function with no required parameters whose return builds a model class, and only such are called.
"""

from __future__ import annotations

import ast
from typing import Iterable, Mapping

# Never imported, whatever they hold: packaging and test configuration run code by design.
NEVER_IMPORTED = frozenset({"setup.py", "conftest.py", "__main__.py", "noxfile.py", "fabfile.py"})
_SETUP_CALLS = frozenset({
    "wrap", "filterwarnings", "simplefilter", "setLevel", "addHandler", "update", "append", "extend",
    "setdefault", "add", "set_float32_matmul_precision", "getLogger",
})
# Calls whose result is script state, not a module constant.
_SCRIPT_CALLS = frozenset({"parse_args", "parse_known_args", "input", "main", "train", "run"})


def script_line(tree: ast.Module) -> int | None:
    """The line of the first top-level statement that executes code (None: safe to import)."""
    defined = {s.name for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    return _first_code(tree.body, defined)


def _first_code(body: Iterable[ast.stmt], defined: set[str]) -> int | None:
    for stmt in body:
        line = _code_line(stmt, defined)
        if line is not None:
            return line
    return None


def _code_line(stmt: ast.stmt, defined: set[str]) -> int | None:
    if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                         ast.Pass, ast.Global, ast.Nonlocal, ast.Assert, ast.Delete)):
        return None
    if isinstance(stmt, ast.Expr):  # a docstring, `...` or module set-up is fine; `main()` is the script
        value = stmt.value
        if isinstance(value, ast.Constant) or (isinstance(value, ast.Call) and _is_setup_call(value.func)):
            return None
        return stmt.lineno
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        value = stmt.value
        return stmt.lineno if value is not None and _runs_script(value, defined) else None
    if isinstance(stmt, ast.If):
        if _is_main_guard(stmt.test):
            return _first_code(stmt.orelse, defined)
        return _first_code([*stmt.body, *stmt.orelse], defined)
    if isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
        handlers = [s for h in stmt.handlers for s in h.body]  # type: ignore[attr-defined]
        return _first_code([*stmt.body, *handlers, *stmt.orelse, *stmt.finalbody], defined)  # type: ignore[attr-defined]
    return stmt.lineno  # for, while, with, raise, match, ...: the file does something when imported


def _runs_script(value: ast.expr, defined: set[str]) -> bool:
    """An assignment whose value builds one of the file's own classes/functions' results (``model =
    Net()``) or reads the command line is script state; ``logger = getLogger(...)`` is a constant."""
    for node in ast.walk(value):
        if isinstance(node, ast.Call):
            name = _called_name(node.func)
            if name in defined or name in _SCRIPT_CALLS:
                return True
    return False


def _is_setup_call(func: ast.expr) -> bool:
    """``torch.fx.wrap("f")``, ``MODELS.register_module(Net)``, ``__all__.extend([...])``,
    ``warnings.filterwarnings(...)``: what model modules do to themselves at import."""
    name = _called_name(func)
    return isinstance(func, ast.Attribute) and name is not None and (
        name in _SETUP_CALLS or name.startswith("register")
    )


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
    )


def _called_name(func: ast.expr) -> str | None:
    """``Block(...)`` -> "Block"; ``nn.Linear(...)`` -> "Linear"; ``parser.parse_args()`` -> "parse_args"."""
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def calls_by_definition(tree: ast.Module) -> Mapping[str, frozenset[str]]:
    """Top-level class/function name -> the plain names its body uses (``Block(config)``,
    ``ResNet(BasicBlock, [2, 2])``, ``block_cls=Block``); annotations and decorators aside."""
    out: dict[str, frozenset[str]] = {}
    for stmt in tree.body:
        if isinstance(stmt, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names = set()
            for part in stmt.body:
                for node in ast.walk(part):
                    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                        names.add(node.id)
            out[stmt.name] = frozenset(names - {stmt.name})
    return out


def returned_names(tree: ast.Module) -> Mapping[str, frozenset[str]]:
    """Top-level function name -> the names its return values call or pass along (through local
    variables it assigned): ``return ConvNeXt(...)``, ``m = DiT(...); return m`` and ``return
    build(ConvNeXt, cfg)`` all give ``ConvNeXt``; helpers of the file are followed by the caller."""
    out: dict[str, frozenset[str]] = {}
    for stmt in tree.body:
        if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        assigned: dict[str, list[ast.expr]] = {}
        returns: list[ast.expr] = []
        for node in ast.walk(stmt):
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        assigned.setdefault(t.id, []).append(node.value)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
                assigned.setdefault(node.target.id, []).append(node.value)
            elif isinstance(node, ast.Return) and node.value is not None:
                returns.append(node.value)
        names: set[str] = set()
        seen: set[str] = set()
        todo = list(returns)
        while todo:
            expr = todo.pop()
            for node in ast.walk(expr):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                    if node.id in assigned and node.id not in seen:
                        seen.add(node.id)
                        todo.extend(assigned[node.id])
                    names.add(node.id)
                elif isinstance(node, ast.Call):
                    called = _called_name(node.func)
                    if called is not None:
                        names.add(called)
        out[stmt.name] = frozenset(names)
    return out


def factory_targets(
    returned: Mapping[str, frozenset[str]], functions: Iterable[str], is_model: Mapping[str, bool]
) -> dict[str, frozenset[str]]:
    """Function -> the model classes its return builds, following the file's own helper functions
    (``def tiny(**kw): return _create("tiny", **kw)`` where ``_create`` returns ``Net(...)``)."""
    memo: dict[str, frozenset[str]] = {}

    def targets(fn: str, stack: frozenset[str]) -> frozenset[str]:
        if fn in memo:
            return memo[fn]
        found: set[str] = set()
        for name in returned.get(fn, ()):
            if is_model.get(name):
                found.add(name)
            elif name in returned and name not in stack:
                found |= targets(name, stack | {name})
        memo[fn] = frozenset(found)
        return memo[fn]

    return {fn: targets(fn, frozenset({fn})) for fn in functions}


def required_imports(tree: ast.Module) -> frozenset[str]:
    """Top-level packages the module imports unguarded at import time (not inside ``try``, a
    function or the ``__main__`` block): each one missing makes the import fail."""
    heads: set[str] = set()

    def visit(body: Iterable[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, ast.Import):
                heads.update(a.name.partition(".")[0] for a in stmt.names)
            elif isinstance(stmt, ast.ImportFrom) and stmt.level == 0 and stmt.module:
                heads.add(stmt.module.partition(".")[0])
            elif isinstance(stmt, ast.If) and not _is_main_guard(stmt.test):
                visit(stmt.body)
                visit(stmt.orelse)

    visit(tree.body)
    return frozenset(heads - {"__future__"})
