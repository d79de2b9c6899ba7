"""``modelcheck rule CODE`` and ``modelcheck rules``, and the docstring pieces SARIF reuses."""

from __future__ import annotations

from dataclasses import replace
from io import StringIO

import pytest
import render_cases as rc
from rich.console import Console

from modelcheck.render import render_rule, render_rules
from modelcheck.render.ruledoc import (
    doc_sections,
    full_description,
    rule_family,
    short_description,
)
from modelcheck.rule import DOC_SECTIONS


def plain() -> Console:
    return Console(file=StringIO(), width=100, color_system=None, force_terminal=False)


def text(console: Console) -> str:
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out


def test_rule_page_header_and_sections() -> None:
    console = plain()
    render_rule(rc.fake_rule(), console)
    out = text(console)
    assert out.splitlines()[0] == "MC301 (depth-gradient-vanishing), default severity: error"
    for section in DOC_SECTIONS:
        assert section in out
    assert "nn.Sequential(*[nn.Linear(64, 64) for _ in range(30)])" in out
    # links keep their URL in a plain log
    assert "https://proceedings.mlr.press/v9/glorot10a.html" in out
    assert "##" not in out  # rendered as markdown, not dumped


def test_rule_page_without_doc_falls_back_to_name() -> None:
    console = plain()
    render_rule(rc.RULES["MC201"], console)
    out = text(console)
    assert "MC201 (weight-init-scale), default severity: info" in out
    assert out.count("weight-init-scale") >= 2


def test_rules_table_sorted_by_code() -> None:
    console = plain()
    shuffled = {code: rc.RULES[code] for code in reversed(sorted(rc.RULES))}
    render_rules(shuffled, console)
    out = text(console)
    positions = [out.index(code) for code in sorted(rc.RULES)]
    assert positions == sorted(positions)
    for rule in rc.RULES.values():
        row = next(line for line in out.splitlines() if rule.code in line)
        assert rule.name in row and rule.severity.value in row
    assert short_description(rc.RULES["MC102"]) in out
    # an iterable of rules works too
    again = plain()
    render_rules(list(rc.RULES.values()), again)
    assert text(again) == out


def test_doc_sections() -> None:
    sections = doc_sections(rc.DOC)
    assert list(sections) == ["", *DOC_SECTIONS]
    assert sections[""] == rc.fake_rule().summary
    assert sections["Use instead"] == "Residual connections."
    fenced = doc_sections("## Example\n```python\n# not a heading\nx = 1\n```\n## Use instead\ny\n")
    assert list(fenced) == ["", "Example", "Use instead"]
    assert "# not a heading" in fenced["Example"]


@pytest.mark.parametrize(
    ("doc", "short", "full"),
    [
        (
            rc.DOC,
            "Flags networks whose gradient vanishes over depth at initialization.",
            "Predicts the backward gain of the network from its initial weights.",
        ),
        ("## What it does\nFinds X.\n\n## Example\nx\n", "Finds X.", "Finds X."),
        ("Just one line.", "Just one line.", "Just one line."),
        (
            "# MC301 depth-gradient-vanishing\n\nSummary here.\n",
            "Summary here.",
            "# MC301 depth-gradient-vanishing\n\nSummary here.",
        ),
        ("", "depth-gradient-vanishing", "depth-gradient-vanishing"),
    ],
)
def test_descriptions(doc: str, short: str, full: str) -> None:
    rule = rc.fake_rule(doc=doc)
    assert short_description(rule) == short
    assert full_description(rule) == full


def test_rule_family() -> None:
    assert rule_family(rc.fake_rule()) == "signal"
    assert rule_family(replace(rc.fake_rule(), origin="my_plugin")) is None


def test_rule_docs_never_refer_to_documents_the_user_does_not_have() -> None:
    """`modelcheck rule` prints a rule's docs to users who have no SPEC.md, THEORY.md or DESIGN.md."""
    import re

    from modelcheck.registry import load_rules

    rules = load_rules().rules
    assert len(rules) > 10
    internal = re.compile(r"\b(SPEC|THEORY|DESIGN|STYLE)\b|shared/")
    assert [r.code for r in rules if internal.search(r.doc)] == []
