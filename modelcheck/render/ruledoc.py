"""Rule documentation: ``modelcheck rule CODE`` / ``modelcheck rules``, and the pieces of a rule's
docstring that SARIF's ``shortDescription`` / ``fullDescription`` / ``help`` reuse.

A rule's docstring is markdown with ``## What it does`` / ``## Why is this bad?`` / ``## Example`` /
``## Use instead`` / ``## References`` sections, optionally preceded by a one-line summary.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

from rich import box
from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table
from rich.text import Text

from modelcheck.diagnostics import RuleMeta
from modelcheck.render.style import severity_style

_HEADING = re.compile(r"^\s*#{1,6}\s*(?P<title>.+?)\s*#*\s*$")


def doc_sections(doc: str) -> dict[str, str]:
    """Section title -> body (stripped), in order; text before the first heading is under ``""``."""
    sections: dict[str, list[str]] = {"": []}
    current = ""
    fenced = False  # "# comment" inside a ``` code block is not a heading
    for line in doc.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        m = None if fenced else _HEADING.match(line)
        if m:
            current = m.group("title")
            sections.setdefault(current, [])
            continue
        sections[current].append(line)
    return {title: "\n".join(body).strip() for title, body in sections.items()}


def _section(doc: str, title: str) -> str:
    for name, body in doc_sections(doc).items():
        if name.lower() == title.lower():
            return body
    return ""


def short_description(rule: RuleMeta) -> str:
    """One sentence: the docstring's first line that is not a heading (a title such as
    ``# MC301 ...`` or ``## What it does`` is skipped), else the rule's name."""
    for line in rule.doc.splitlines():
        line = line.strip()
        if line and not _HEADING.match(line):
            return line
    return rule.name


def full_description(rule: RuleMeta) -> str:
    """The "What it does" section (plain paragraphs), else the whole docstring, else the summary."""
    what = _section(rule.doc, "What it does")
    return what or rule.doc.strip() or short_description(rule)


def rule_family(rule: RuleMeta) -> str | None:
    """``modelcheck_rules.signal.depth_gradient`` -> ``signal`` (the folder the rule lives in)."""
    parts = rule.origin.split(".")
    return parts[-2] if len(parts) >= 3 else None


def rule_title(rule: RuleMeta) -> Text:
    """``MC301 (depth-gradient-vanishing), default severity: error``."""
    return Text.assemble(
        (rule.code, "bold"),
        f" ({rule.name}), default severity: ",
        (rule.severity.value, severity_style(rule.severity)),
    )


def render_rule(rule: RuleMeta, console: Console) -> None:
    """``modelcheck rule CODE``: the title line, then the docstring as markdown."""
    console.print(rule_title(rule))
    if rule.requires:
        console.print(Text(f"analyses: {', '.join(rule.requires)}", style="dim"))
    if rule.options:
        opts = ", ".join(f"{k} = {_toml(v)}" for k, v in rule.options.items())
        console.print(Text(f"options ([tool.modelcheck.options.{rule.code}]): {opts}", style="dim"))
    console.print()
    # hyperlinks=False prints the URL itself, which survives a log without terminal links
    console.print(Markdown(rule.doc.strip() or short_description(rule), hyperlinks=False))


def _toml(v: object) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else repr(v) if not isinstance(v, str) else f'"{v}"'


def render_rules(rules: Mapping[str, RuleMeta] | Iterable[RuleMeta], console: Console) -> None:
    """``modelcheck rules``: one row per rule, sorted by code."""
    items = rules.values() if isinstance(rules, Mapping) else rules
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("code", no_wrap=True)
    table.add_column("name", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("summary", overflow="fold")
    for r in sorted(items, key=lambda r: r.code):
        table.add_row(
            Text(r.code, "bold"),
            Text(r.name),
            Text(r.severity.value, severity_style(r.severity)),
            Text(short_description(r)),
        )
    console.print(table)
