"""``--format github``: workflow commands and their escaping."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import render_cases as rc

from modelcheck.diagnostics import Finding, RunReport, Severity
from modelcheck.render import render_github
from modelcheck.render.github import command, escape_data, escape_property


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("raw", "data", "prop"),
    [
        ("plain", "plain", "plain"),
        ("100%", "100%25", "100%25"),
        ("a\nb", "a%0Ab", "a%0Ab"),
        ("a\r\nb", "a%0D%0Ab", "a%0D%0Ab"),
        ("k: v, w", "k: v, w", "k%3A v%2C w"),
        ("%0A", "%250A", "%250A"),  # an already-escaped-looking string stays literal
    ],
)
def test_escaping(raw: str, data: str, prop: str) -> None:
    assert escape_data(raw) == data
    assert escape_property(raw) == prop


def test_command_shape() -> None:
    assert (
        command("error", "boom", file="a.py", line=3, title="T")
        == "::error file=a.py,line=3,title=T::boom"
    )
    assert command("notice", "hi", file="a.py", line=None) == "::notice file=a.py::hi"
    assert command("warning", "x") == "::warning::x"


def test_one_line_per_finding_with_levels(root: Path) -> None:
    lines = render_github(RunReport(models=(rc.MIXED,)), root=root).splitlines()
    assert len(lines) == len(rc.MIXED.findings)
    level = {Severity.ERROR: "::error ", Severity.WARNING: "::warning ", Severity.INFO: "::notice "}
    for line, f in zip(lines, rc.MIXED.findings, strict=True):
        assert line.startswith(level[f.severity])
        assert f"title={f.rule} {f.name}::" in line
        assert "\n" not in line


def test_location_properties(root: Path) -> None:
    lines = render_github(RunReport(models=(rc.MIXED,)), root=root).splitlines()
    error = lines[0]
    assert error.startswith(
        f"::error file={rc.DEEP},line=42,title=MC301 depth-gradient-vanishing::"
    )
    assert f"{rc.MIXED.model}.layers.29: " in error and "%0AFix: add residual" in error
    no_line = next(line for line in lines if "MC201" in line)
    assert "line=" not in no_line and "100%25 of the gain" in no_line and "%0Asee: head" in no_line
    library = next(line for line in lines if "MC202" in line)
    # a library file cannot be annotated: the model's file, no line, the real place in the message
    assert library.startswith(f"::notice file={rc.DEEP},title=MC202 library-layer-scale::")
    assert library.endswith(f"(at {rc.LIBRARY}:99)")  # message data keeps its colons


def test_tool_errors_and_file_messages(root: Path) -> None:
    out = render_github(rc.FULL, root=root).splitlines()
    assert rc.BROKEN.error is not None
    broken = [line for line in out if f"file={rc.BROKEN.file}" in line]
    assert broken == [
        f"::error file={rc.BROKEN.file},title=modelcheck error ({rc.BROKEN.error.code})::"
        f"{rc.BROKEN.model}: {rc.BROKEN.error.message}"
    ]
    assert any(line.startswith(f"::notice file={rc.SKIPPED.file},") for line in out)


def test_absolute_path_made_relative(root: Path) -> None:
    model = replace(
        rc.CLEAN,
        file=str(root / "src" / "net.py"),
        findings=(
            Finding(rule="MC101", name="x-y", severity=Severity.WARNING, message="m", line=5),
        ),
    )
    out = render_github(RunReport(models=(model,)), root=root)
    assert out == "::warning file=src/net.py,line=5,title=MC101 x-y::CleanMLP: m"


def test_nothing_to_say() -> None:
    assert render_github(RunReport(models=(rc.CLEAN,)), root=Path.cwd()) == ""
