"""The result cache: a hit skips importing the file; any change to it or to what it imports misses."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import modelcheck.engine.cache as cache_mod
from modelcheck.config.settings import CliOptions, resolve_settings
from modelcheck.engine.cache import local_imports
from modelcheck.engine.records import LAST_RUN
from modelcheck.engine.run import lint_paths
from modelcheck.load.discovery import scan_file
from modelcheck.registry import RuleSet
from modelcheck.rule import Violation, rule


def _count(graph, ctx):
    yield Violation(f"{ctx.model}: {graph.num_parameters} parameters")


RULES = RuleSet([rule(code="MC811", name="count-parameters", severity="warning")(_count)])


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A model file whose sibling import leaves a mark each time the file is really imported."""
    monkeypatch.setenv("MODELCHECK_CACHE_DIR", str(tmp_path / "cache"))
    # Other people's edits to modelcheck's own sources must not turn hits into misses mid-test.
    monkeypatch.setattr(cache_mod, "environment", lambda: "fixed environment")
    root = tmp_path / "proj"
    _write(root / "pyproject.toml", "[tool.modelcheck]\n")
    _write(root / "widths.py", "WIDTH = 8\n")
    _write(
        root / "model.py",
        f"""\
        import torch
        from torch import nn

        from widths import WIDTH

        _LOGGED = open({str(tmp_path / 'imports.log')!r}, "a").write("imported\\n")  # counts the imports


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.l = nn.Linear(WIDTH, WIDTH)

            def forward(self, x):
                return self.l(x)
        """,
    )
    return root


def _lint(root: Path, **cli: object):
    settings = resolve_settings([str(root / "model.py")], CliOptions(**cli))
    return lint_paths([str(root / "model.py")], settings, rules=RULES)


def _imports(root: Path) -> int:
    log = root.parent / "imports.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_a_hit_skips_the_import_and_returns_the_same_report(project: Path) -> None:
    first = _lint(project)
    assert _imports(project) == 1 and LAST_RUN.linted == 1 and LAST_RUN.cached == 0
    second = _lint(project)
    assert _imports(project) == 1, "the file was imported again despite an unchanged cache key"
    assert LAST_RUN.cached == 1 and LAST_RUN.linted == 0
    assert [(m.model, m.findings) for m in second.models] == [(m.model, m.findings) for m in first.models]
    assert (project.parent / "cache" / ".gitignore").read_text().strip().endswith("*")


def test_editing_an_imported_sibling_invalidates_the_entry(project: Path) -> None:
    _lint(project)
    (project / "widths.py").write_text("WIDTH = 16\n")
    report = _lint(project)
    assert _imports(project) == 2
    assert "272 parameters" in report.models[0].findings[0].message  # 16*16+16: the new sibling was used


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "model.py").write_text((root / "model.py").read_text() + "\n# edited\n"),
        lambda root: (root / "pyproject.toml").write_text('[tool.modelcheck]\nfail-on = "info"\nignore = ["MC811"]\n'),
    ],
    ids=["the-file", "the-settings"],
)
def test_editing_the_file_or_the_settings_invalidates_the_entry(project: Path, change) -> None:
    _lint(project)
    change(project)
    _lint(project)
    assert _imports(project) == 2


def test_no_cache_neither_reads_nor_writes(project: Path) -> None:
    _lint(project, cache=False)
    _lint(project, cache=False)
    assert _imports(project) == 2
    assert not (project.parent / "cache").exists()


def test_results_with_tool_errors_are_not_cached(project: Path) -> None:
    (project / "widths.py").write_text("raise ImportError('not yet installed')\n")
    assert _lint(project).models[0].status == "error"
    assert _lint(project).models[0].status == "error"
    # retried, not served from the cache: the environment may have been fixed in between
    assert LAST_RUN.linted == 1 and LAST_RUN.cached == 0


def test_environment_names_the_versions_that_change_reports() -> None:
    env = cache_mod.environment.__wrapped__()  # the real one, not the fixture's
    assert "torch " in env and "modelcheck " in env and "python " in env
    assert "rules.py" in env or "modelcheck_rules" in env or "/rules/" in env  # the installed rule sources


def test_local_imports_are_resolved_transitively_and_stay_inside_the_project(tmp_path: Path) -> None:
    root = tmp_path
    _write(root / "pkg" / "__init__.py", "")
    _write(root / "pkg" / "layers.py", "from .norms import RMS\n")
    _write(root / "pkg" / "norms.py", "import torch\nRMS = 1\n")
    _write(root / "pkg" / "sub" / "__init__.py", "")
    _write(root / "pkg" / "sub" / "deep.py", "from .. import layers\n")
    _write(root / "shared.py", "import os\n")
    model = _write(
        root / "pkg" / "model.py",
        """\
        import torch
        import shared
        from . import layers
        from .sub.deep import layers as again
        from pkg import norms
        """,
    )
    found = {p.relative_to(root.resolve()).as_posix() for p in local_imports(model.resolve(), scan_file(model), root.resolve())}
    assert found == {
        "shared.py",
        "pkg/__init__.py",
        "pkg/layers.py",
        "pkg/norms.py",
        "pkg/sub/__init__.py",
        "pkg/sub/deep.py",
    }
