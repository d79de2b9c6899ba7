"""Rules declare every pass whose facts they read, and the engine runs exactly those (plus the report's own).

A rule that reads ``signal`` facts without declaring it works only because another pass happens to run;
select it alone and it silently finds nothing. The reads are found on the AST of the rule's module and of
the rule-package helpers it imports (fact keys such as ``SIGNAL`` or ``"signal"``, and the ``param_info``
accessor, which reads ``init_stats``).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from modelcheck.engine.checks import METRIC_PASSES, _needs, run_checks
from modelcheck.passes import PassContext, load_builtin
from modelcheck.registry import load_rules
from modelcheck.rule import Rule

KEYS = {"INIT_STATS": "init_stats", "SIGNAL": "signal", "DEPTH": "depth", "STRUCTURE": "structure",
        "LIPSCHITZ": "lipschitz", "JACOBIAN": "jacobian", "ZERO_INIT": "zero_init"}
ACCESSORS = {"param_info": "init_stats"}


def _closure(names: tuple[str, ...]) -> set[str]:
    load_builtin()
    return set(names).union(*(_needs(n) for n in names))


def _reads(module: str, seen: set[str] | None = None) -> set[str]:
    seen = set() if seen is None else seen
    if module in seen:
        return set()
    seen.add(module)
    path = Path(importlib.import_module(module).__file__ or "")
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Name) and node.id in KEYS:
            out.add(KEYS[node.id])
        elif isinstance(node, ast.Constant) and node.value in KEYS.values():
            out.add(str(node.value))
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("modelcheck_rules"):
                out |= _reads(node.module, seen)
            out |= {ACCESSORS[a.name] for a in node.names if a.name in ACCESSORS}
    return out


BUILTIN = [r for r in load_rules().all if r.origin.startswith("modelcheck_rules")]


@pytest.mark.parametrize("rule", BUILTIN, ids=lambda r: r.code)
def test_a_rule_declares_every_pass_it_reads(rule: Rule) -> None:
    assert _reads(rule.origin) <= _closure(rule.reads), f"{rule.code}: declare the rest in requires= or optional="


def test_the_engine_runs_exactly_the_passes_the_selected_rules_read() -> None:
    import torch
    from lipschitz_ir import to_ir  # tests/ helper: a small graph without tracing
    from torch import nn

    from modelcheck.engine.checks import Place
    from modelcheck.rule import RuleContext

    rules = [r for r in BUILTIN if r.code == "MC101"]
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    x = torch.randn(3, 4)
    graph = to_ir(model, x)
    run_checks(graph, rules, PassContext(inputs=(x,), model=model), RuleContext("M", "m.py"), severities={},
               options={}, place=Place(Path("m.py"), "m.py", 1))
    assert set(graph.facts["_passes_run"]) == _closure(rules[0].reads + METRIC_PASSES)
    assert "jacobian" not in graph.facts["_passes_run"]
