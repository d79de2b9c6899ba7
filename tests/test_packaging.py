"""Packaging: pyproject.toml alone ships the engine and the built-in rules (``rules/`` as ``modelcheck_rules``)."""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_package_folder_is_shipped() -> None:
    folders = {
        ".".join(["modelcheck_rules" if top == "rules" else top, *init.parent.relative_to(ROOT / top).parts])
        for top in ("modelcheck", "rules")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert set(_project()["tool"]["setuptools"]["packages"]) == folders


def test_rules_ship_as_modelcheck_rules_through_the_entry_point_group() -> None:
    project = _project()
    assert project["tool"]["setuptools"]["package-dir"]["modelcheck_rules"] == "rules"
    assert project["project"]["entry-points"]["modelcheck.rules"] == {"builtin": "modelcheck_rules"}


def test_no_build_artefacts_or_binaries_are_tracked() -> None:
    import subprocess

    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False).stdout.split()
    if not tracked:  # not a git checkout (an sdist): nothing to check
        return
    bad = [f for f in tracked if f.endswith((".whl", ".so", ".pyc", ".egg", ".tar.gz", ".zip")) or f == "setup.py"]
    assert bad == []
