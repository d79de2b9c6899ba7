"""``modelcheck rules`` (the installed rules) and ``modelcheck rule CODE`` (one rule's docs)."""

from __future__ import annotations

import enum
import json
import sys
from typing import Annotated

import typer
from rich.console import Console

from modelcheck.errors import UsageError
from modelcheck.exitcode import ExitCode
from modelcheck.registry import RuleSet, load_rules


class ListFormat(str, enum.Enum):
    text = "text"
    json = "json"


def _load() -> RuleSet:
    try:
        rules = load_rules()
    except UsageError as exc:  # duplicate codes
        print(f"modelcheck: error: {exc}", file=sys.stderr)
        raise typer.Exit(ExitCode.TOOL_ERROR) from None
    for p in rules.problems:
        print(f"modelcheck: error: {p.source}: {p.message}", file=sys.stderr)
    return rules


def list_rules(
    format: Annotated[ListFormat, typer.Option("--format", "-f", help="text or json.")] = ListFormat.text,
) -> None:
    """List every installed rule: code, name, default severity and summary."""
    rules = _load()
    if format is ListFormat.json:
        rows = [
            {
                "code": r.code,
                "name": r.name,
                "severity": r.severity.value,
                "summary": r.summary,
                "requires": list(r.requires),
                "origin": r.origin,
            }
            for r in rules.all
        ]
        print(json.dumps(rows, indent=2))
    else:
        from modelcheck.render.ruledoc import render_rules

        render_rules({r.code: r.meta for r in rules.all}, Console())
    raise typer.Exit(ExitCode.TOOL_ERROR if rules.problems else ExitCode.OK)


def show_rule(
    code: Annotated[str, typer.Argument(help="A rule code (MC301) or name (depth-gradient-vanishing).")],
) -> None:
    """Print a rule's documentation: what it does, why it matters, an example and the fix."""
    rules = _load()
    rule = rules.get(code)
    if rule is None:
        print(f"modelcheck: error: unknown rule {code!r} (`modelcheck rules` lists them)", file=sys.stderr)
        raise typer.Exit(ExitCode.TOOL_ERROR)
    from modelcheck.render.ruledoc import render_rule

    render_rule(rule.meta, Console())
