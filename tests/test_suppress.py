"""``# noqa`` on a finding's line and ``# modelcheck: noqa`` for a whole file."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from modelcheck.diagnostics import Finding, Severity
from modelcheck.suppress import ALL, Directives, Suppressor, parse_directives


@pytest.mark.parametrize(
    ("line", "codes"),
    [
        ("x = 1  # noqa", ALL),
        ("x = 1  # noqa: MC101", ("MC101",)),
        ("x = 1  # noqa:MC101,MC3", ("MC101", "MC3")),
        ("x = 1  # NOQA: mc101 , MC302", ("MC101", "MC302")),
        ("x = 1  # the reason # noqa: MC101", ("MC101",)),
    ],
)
def test_line_directives(line: str, codes: tuple[str, ...]) -> None:
    d = parse_directives(f"import torch\n{line}\n")
    assert d.lines == {2: codes}
    assert d.file is None


@pytest.mark.parametrize(
    ("source", "codes"),
    [
        ("# modelcheck: noqa\n", ALL),
        ("import torch\n# modelcheck: noqa: MC101, MC3\n", ("MC101", "MC3")),
        ("#modelcheck:noqa:MC1\nx = 1\n# modelcheck: noqa: MC2\n", ("MC1", "MC2")),
        ("# modelcheck: noqa: MC1\n# modelcheck: noqa\n", ALL),
    ],
)
def test_file_directives(source: str, codes: tuple[str, ...]) -> None:
    d = parse_directives(source)
    assert d.file == codes
    assert d.lines == {}  # a file-level comment is not also a line directive


def test_noqa_inside_a_string_is_not_a_directive() -> None:
    d = parse_directives('s = "# noqa: MC101"\nt = """\n# modelcheck: noqa\n"""\n')
    assert d == Directives()


def _f(code: str, line: int | None, file: str | None = None) -> Finding:
    return Finding(rule=code, name="x", severity=Severity.ERROR, message="m", file=file, line=line)


def test_suppressor_counts_what_it_hides(tmp_path: Path) -> None:
    model = tmp_path / "model.py"
    model.write_text(
        textwrap.dedent(
            """\
            import torch
            layer = 1  # noqa: MC3
            other = 2  # noqa
            plain = 3
            """
        )
    )
    lib = tmp_path / "lib.py"
    lib.write_text("a = 1\nb = 2  # noqa: MC101\n")
    findings = [
        _f("MC301", 2, str(model)),  # prefix MC3 on line 2: hidden
        _f("MC101", 2, str(model)),  # other code on that line: kept
        _f("MC205", 3, str(model)),  # bare noqa: hidden
        _f("MC301", 4, str(model)),  # no comment: kept
        _f("MC101", 2, str(lib)),  # the line a finding points at may be in another file
        _f("MC101", None, None),  # no location: kept
    ]
    kept, hidden = Suppressor(model).apply(findings, lambda f: Path(f.file) if f.file and f.line else None)
    assert hidden == 3
    assert [(f.rule, f.line) for f in kept] == [("MC101", 2), ("MC301", 4), ("MC101", None)]


def test_file_level_directive_of_the_linted_file_covers_every_finding(tmp_path: Path) -> None:
    model = tmp_path / "model.py"
    model.write_text("import torch\n# modelcheck: noqa: MC3\n")
    findings = [_f("MC301", 9, str(tmp_path / "elsewhere.py")), _f("MC302", None), _f("MC101", 1, str(model))]
    kept, hidden = Suppressor(model).apply(findings, lambda f: Path(f.file) if f.file and f.line else None)
    assert hidden == 2 and [f.rule for f in kept] == ["MC101"]
