"""Reporters: the last stage of a run and the only one that prints.

Each takes a finished :class:`~modelcheck.diagnostics.RunReport` (plus rule metadata and the
repository root where the format needs them) and nothing else:

    render_text(report, console, rules=None, verbose=False)   rich terminal report  (text.py)
    render_json(report, debug=False) -> str                   SPEC §3               (json.py)
    render_sarif(report, rules, root=Path) -> str             SARIF 2.1.0           (sarif.py)
    render_github(report, root=Path) -> str                   workflow commands     (github.py)
    render_rule(rule, console) / render_rules(rules, console) rule documentation   (ruledoc.py)

The string reporters return text without a trailing newline (``render_github`` returns ``""`` when
there is nothing to annotate). Helpers (the number format itself is :mod:`modelcheck.numbers`): ``sparkline`` and
``profile`` (per-layer profile), ``findings`` (the findings table), ``locations`` (repo-relative
paths), ``style`` (colours and markers).

Stage 8. May import: records (``diagnostics``, ``numbers``, ``errors``) and the rule API's records
(``modelcheck.rule``); never the engine, passes or the model.
"""

from __future__ import annotations

from modelcheck.numbers import fmt_count, fmt_num
from modelcheck.render.github import render_github
from modelcheck.render.json import render_json
from modelcheck.render.ruledoc import render_rule, render_rules
from modelcheck.render.sarif import render_sarif
from modelcheck.render.text import render_text

FORMATS = ("text", "json", "sarif", "github")

__all__ = [
    "FORMATS",
    "fmt_count",
    "fmt_num",
    "render_github",
    "render_json",
    "render_rule",
    "render_rules",
    "render_sarif",
    "render_text",
]
