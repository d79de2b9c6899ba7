"""The installed rules as data (metadata, opt-in flags, load problems): what the parent process needs
to select rules and render a report without importing any rule plugin, or torch."""

from __future__ import annotations

from typing import Any

from modelcheck.diagnostics import RuleMeta
from modelcheck.engine import codec
from modelcheck.registry import LoadProblem, RuleSet
from modelcheck.rule import Rule


def catalog(rules: RuleSet) -> dict[str, Any]:
    """``rules`` as data: each rule's metadata and opt-in flag, and the load problems."""
    return {
        "rules": [[codec.encode(r.meta), r.opt_in] for r in rules.rules],
        "problems": [[p.source, p.message] for p in rules.problems],
    }


def catalog_rules(data: dict[str, Any]) -> RuleSet:
    def never(**_: Any) -> tuple[()]:
        return ()

    rules = []
    for encoded, opt_in in data["rules"]:
        meta = codec.decode(encoded)
        if not isinstance(meta, RuleMeta):
            raise codec.DecodeError("not a rule")
        rules.append(Rule(code=meta.code, name=meta.name, severity=meta.severity, check=never, requires=meta.requires,
                          doc=meta.doc, origin=meta.origin, opt_in=bool(opt_in), options=dict(meta.options)))
    return RuleSet(rules, [LoadProblem(s, m) for s, m in data.get("problems", ())])
