"""The rule registry: entry-point loading (built-in and third-party alike) and ruff-style selection."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Iterator

import pytest
from typer.testing import CliRunner

from modelcheck.cli import app
from modelcheck.config.settings import CliOptions, resolve_settings
from modelcheck.diagnostics import Severity
from modelcheck.engine.run import lint_paths
from modelcheck.errors import ConfigError, UsageError
from modelcheck.registry import INTERNAL_ERROR, RuleSet, load_rules
from modelcheck.rule import Rule


def _rule(code: str, name: str, severity: str = "warning") -> Rule:
    return Rule(code=code, name=name, severity=Severity(severity), check=lambda: (), origin=f"test.{name}")


RULES = RuleSet(
    [
        _rule("MC101", "missing-skip"),
        _rule("MC102", "unnormalized-residual"),
        _rule("MC205", "eps-too-small"),
        _rule("MC301", "depth-vanishing", "error"),
        _rule("MC302", "depth-explosion", "error"),
    ]
)


@pytest.mark.parametrize(
    ("select", "ignore", "extend", "codes"),
    [
        (("ALL",), (), (), ["MC101", "MC102", "MC205", "MC301", "MC302"]),
        (("MC1",), (), (), ["MC101", "MC102"]),
        (("MC3",), ("MC302",), (), ["MC301"]),
        (("depth-vanishing",), (), ("MC2",), ["MC205", "MC301"]),
        (("ALL",), ("MC3", "missing-skip"), (), ["MC102", "MC205"]),
        (("MC301",), ("MC3",), (), ["MC301"]),  # the more specific selector wins (as in ruff)
        (("MC3",), ("MC301",), (), ["MC302"]),
        (("MC3",), ("MC3",), (), []),  # equal specificity: ignore wins
        (("mc1",), (), (), ["MC101", "MC102"]),  # codes are case-insensitive
    ],
)
def test_selection(select: tuple, ignore: tuple, extend: tuple, codes: list[str]) -> None:
    assert [r.code for r in RULES.select(select, ignore, extend)] == codes


@pytest.mark.parametrize("where", ["select", "ignore", "extend-select"])
def test_unknown_selector_is_a_config_error_naming_it(where: str) -> None:
    args = {"select": ("ALL",), "ignore": (), "extend_select": ()}
    args[where.replace("-", "_")] = ("MC999",)
    with pytest.raises(ConfigError, match=rf"unknown rule selector 'MC999' in {where}"):
        RULES.select(**args)


def test_severity_overrides_most_specific_key_wins() -> None:
    sev = RULES.severities([("MC3", Severity.INFO), ("MC301", Severity.WARNING), ("missing-skip", Severity.ERROR)])
    assert sev == {"MC301": Severity.WARNING, "MC302": Severity.INFO, "MC101": Severity.ERROR}
    with pytest.raises(ConfigError, match="in severity"):
        RULES.severities([("MC9", Severity.INFO)])


def test_duplicate_codes_or_names_are_a_clear_error() -> None:
    with pytest.raises(UsageError, match=r"rule MC101 is defined twice: in test\.a and in test\.b"):
        RuleSet([_rule("MC101", "a"), _rule("MC101", "b")])
    with pytest.raises(UsageError, match="rule same is defined twice"):
        RuleSet([_rule("MC101", "same"), _rule("MC102", "same")])
    with pytest.raises(UsageError, match="MC000"):
        RuleSet([_rule("MC000", "mine")])  # the internal-error code is reserved


def test_lookup_by_code_or_name_and_the_internal_error_pseudo_rule() -> None:
    assert RULES.get("mc301").name == "depth-vanishing"
    assert RULES.get("depth-explosion").code == "MC302"
    assert RULES.get("MC000") is INTERNAL_ERROR and INTERNAL_ERROR not in RULES.rules
    assert RULES.get("MC999") is None


def test_builtin_rules_load_through_the_entry_point_group() -> None:
    rules = load_rules()
    assert rules.problems == ()
    builtin = [r for r in rules.rules if r.origin.startswith("modelcheck_rules.")]
    assert builtin, "the built-in rules package registers no rule"
    assert all(r.doc for r in builtin)


# --- a third-party plugin, installed the way pip would: a dist-info folder with entry_points.txt ---


def _install(site: Path, dist: str, entry_points: str, files: dict[str, str]) -> None:
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    for rel, text in files.items():
        p = site / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))


PLUGIN_RULE = '''\
    """Flags a model with more than 100 parameters.

    ## What it does
    Counts the parameters.

    ## Why is this bad?
    It is a demonstration.

    ## Example
    `nn.Linear(64, 64)`

    ## Use instead
    A smaller model.

    ## References
    - the plugin docs.
    """
    from modelcheck.rule import Violation, rule


    def check(graph, options):
        limit = options.get("limit", 100)
        if graph.num_parameters > limit:
            yield Violation(f"{graph.num_parameters} parameters > {limit}")


    RULE = rule(code="XY001", name="too-many-parameters", severity="warning", options={"limit": 100})(check)
    '''


@pytest.fixture
def plugin_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    site = tmp_path / "site"
    _install(
        site,
        "xy_rules",
        """\
        [modelcheck.rules]
        xy = xy_rules
        """,
        {"xy_rules/__init__.py": "", "xy_rules/size/__init__.py": "", "xy_rules/size/too_big.py": PLUGIN_RULE},
    )
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name in [m for m in sys.modules if m.startswith("xy_rules")]:
        del sys.modules[name]


def test_a_third_party_plugin_package_is_found_listed_and_run(plugin_site: Path, tmp_path: Path) -> None:
    rules = load_rules()
    plugin = rules.get("XY001")
    assert plugin is not None and plugin.origin == "xy_rules.size.too_big"
    assert any(r.origin.startswith("modelcheck_rules.") for r in rules.rules)  # built-ins still there

    listed = CliRunner().invoke(app, ["rules", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    assert "XY001" in listed.stdout and "too-many-parameters" in listed.stdout
    doc = CliRunner().invoke(app, ["rule", "too-many-parameters"])
    assert doc.exit_code == 0 and "Counts the parameters" in doc.stdout

    model = tmp_path / "proj" / "model.py"
    model.parent.mkdir()
    model.write_text(
        "import torch\n\nclass Big(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.l = torch.nn.Linear(16, 16)\n\n    def forward(self, x):\n        return self.l(x)\n"
    )
    settings = resolve_settings([str(model)], CliOptions(select=("XY",), cache=False))
    report = lint_paths([str(model)], settings)
    (m,) = report.models
    assert m.status == "ok", m.error
    assert [(f.rule, f.name, f.severity) for f in m.findings] == [("XY001", "too-many-parameters", Severity.WARNING)]
    assert "272 parameters > 100" in m.findings[0].message


def test_entry_points_may_name_a_rule_or_a_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    _install(
        site,
        "xz_rules",
        """\
        [modelcheck.rules]
        one = xz_single:RULE
        two = xz_module
        """,
        {"xz_single.py": PLUGIN_RULE.replace("XY001", "XZ001").replace("too-many", "one-many"),
         "xz_module.py": PLUGIN_RULE.replace("XY001", "XZ002").replace("too-many", "two-many")},
    )
    monkeypatch.syspath_prepend(str(site))
    rules = load_rules()
    assert rules.get("XZ001") is not None and rules.get("XZ002") is not None


def test_a_broken_plugin_is_reported_and_the_others_still_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    _install(
        site,
        "broken_rules",
        """\
        [modelcheck.rules]
        broken = broken_rules
        wrong = broken_wrong:VALUE
        """,
        {"broken_rules.py": "import not_installed_anywhere\n", "broken_wrong.py": "VALUE = 3\n"},
    )
    monkeypatch.syspath_prepend(str(site))
    rules = load_rules()
    problems = {p.source: p.message for p in rules.problems}
    assert "No module named 'not_installed_anywhere'" in problems["entry point 'broken' (broken_rules)"]
    assert "resolved to int" in problems["entry point 'wrong' (broken_wrong:VALUE)"]
    assert any(r.origin.startswith("modelcheck_rules.") for r in rules.rules)


def test_two_plugins_with_one_code_is_an_error(plugin_site: Path) -> None:
    _install(
        plugin_site,
        "dup_rules",
        """\
        [modelcheck.rules]
        dup = dup_rules
        """,
        {"dup_rules.py": PLUGIN_RULE.replace("too-many-parameters", "other-name")},
    )
    with pytest.raises(UsageError, match="rule XY001 is defined twice"):
        load_rules()


def test_opt_in_rules_need_an_explicit_selector() -> None:
    from modelcheck.registry import load_rules

    rules = load_rules()
    everything = {r.code for r in rules.select(("ALL",))}
    assert "MC401" not in everything and "MC301" in everything
    assert "MC401" in {r.code for r in rules.select(("ALL",), (), ("MC401",))}
    assert "MC401" in {r.code for r in rules.select(("MC4",))}
