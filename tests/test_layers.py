"""The house's one law: imports only go down (see the README's architecture map).

Every import statement of every module under ``modelcheck/`` and ``rules/`` counts, function-level ones
included. A stage may import the stages its package docstring names and nothing above them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Stage of a module, by longest matching dotted prefix; bottom to top.
STAGES: dict[str, str] = {
    "modelcheck": "records",
    "modelcheck.errors": "records",
    "modelcheck.ir": "records",
    "modelcheck.diagnostics": "records",
    "modelcheck.numbers": "records",
    "modelcheck.exitcode": "records",
    "modelcheck.numerics": "numerics",
    "modelcheck.frames": "tools",
    "modelcheck.capture": "tools",
    "modelcheck.layers": "tools",
    "modelcheck.config": "settings",
    "modelcheck.rule": "settings",
    "modelcheck.registry": "settings",
    "modelcheck.suppress": "settings",
    "modelcheck.load": "load",
    "modelcheck.trace": "trace",
    "modelcheck.passes": "passes",
    "modelcheck.passes.facts": "facts",
    "modelcheck.passes.walks": "facts",  # read-only walks over the IR and its facts: no numbers computed
    "modelcheck_rules": "rules",
    "modelcheck.probe": "probe",
    "modelcheck.probe.records": "facts",  # what the probe measured: the probe rules' facts
    "modelcheck.probe.findings": "facts",
    "modelcheck.engine": "engine",
    "modelcheck.render": "render",
    "modelcheck.cli": "cli",
    "modelcheck.__main__": "cli",
}

# What each stage may import (itself included). Passes never see the tracer or the loader; rules see
# only the rule API, the records and the passes' typed facts; nothing but the CLI imports the engine.
_BELOW_PASSES = {"records", "numerics", "tools", "facts"}
ALLOWED: dict[str, set[str]] = {
    "records": {"records"},
    "numerics": {"numerics"},
    "tools": {"records", "tools"},
    "settings": {"records", "settings"},
    "load": {"records", "numerics", "tools", "settings", "load"},
    "trace": {"records", "tools", "trace"},
    "facts": {"records", "facts"},  # typed results and their one accessor each
    "passes": _BELOW_PASSES | {"passes"},
    "rules": {"records", "numerics", "settings", "facts", "rules"},
    "probe": _BELOW_PASSES | {"settings", "probe"},
    "engine": {"records", "numerics", "tools", "settings", "load", "trace", "facts", "passes", "rules", "probe", "engine"},
    "render": {"records", "settings", "render"},
    "cli": {"records", "settings", "engine", "render", "cli", "probe"},
}


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for pkg, top in (("modelcheck", "modelcheck"), ("rules", "modelcheck_rules")):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT / pkg).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([top, *parts])] = path
    return out


def stage_of(module: str) -> str | None:
    best = None
    for prefix in STAGES:
        if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > len(best)):
            best = prefix
    return STAGES[best] if best is not None else None


def imports_of(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".")
                parts = parts[: len(parts) - node.level + (1 if is_pkg else 0)]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # `from pkg import mod` imports pkg.mod; `from mod import name` imports mod.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != module:
                found.add(t)
    return found


def upward_imports() -> list[str]:
    known = _modules()
    bad = []
    for module, path in known.items():
        stage = stage_of(module)
        assert stage is not None, f"{module} belongs to no stage: add it to STAGES"
        for target in sorted(imports_of(module, path, known)):
            to = stage_of(target)
            if to is not None and to not in ALLOWED[stage]:
                bad.append(f"{module} ({stage}) imports {target} ({to})")
    return bad


def test_every_module_belongs_to_a_stage() -> None:
    assert all(stage_of(m) for m in _modules())


def test_imports_only_go_down() -> None:
    assert upward_imports() == []


def test_each_stage_package_documents_what_it_owns_and_may_import() -> None:
    for init in sorted((ROOT / "modelcheck").rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert "May import" in doc or init.parent == ROOT / "modelcheck", f"{init} does not say what it may import"


def test_at_most_fourteen_modules_lie_loose_in_the_package() -> None:
    loose = sorted(p.name for p in (ROOT / "modelcheck").glob("*.py"))
    assert len(loose) <= 14, loose


@pytest.mark.parametrize(
    "module,target,ok",
    [("modelcheck.passes.depth", "modelcheck.trace.fx", False), ("modelcheck.engine.run", "modelcheck.trace.fx", True),
     ("modelcheck_rules.signal._judge", "modelcheck.passes.signal.ops", False),
     ("modelcheck.render.text", "modelcheck.engine.run", False)],
)
def test_the_law_itself(module: str, target: str, ok: bool) -> None:
    assert (stage_of(target) in ALLOWED[stage_of(module) or ""]) is ok
