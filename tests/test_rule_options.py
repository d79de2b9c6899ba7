"""Rule options are typed by their declared defaults and checked when the configuration is read."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelcheck.cli import app
from modelcheck.errors import ConfigError
from modelcheck.registry import load_rules, options_for

DEEP_RELU = """\
    from torch import nn


    class Deep(nn.Module):
        def __init__(self):
            super().__init__()
            layers = []
            for _ in range(12):
                layers += [nn.Linear(32, 32), nn.ReLU()]
            self.net = nn.Sequential(*layers)

        def forward(self, x):
            return self.net(x)
    """


def _project(tmp_path: Path, options: str) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.modelcheck]\n" + textwrap.dedent(options))
    (tmp_path / "deep.py").write_text(textwrap.dedent(DEEP_RELU))
    return tmp_path


def _lint(tmp_path: Path, *extra: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["lint", str(tmp_path / "deep.py"), "--no-cache", *extra])


@pytest.mark.parametrize(
    "options,fragments",
    [
        ('[tool.modelcheck.options.MC101]\nwarn-depth = "ten"\n', ["warn-depth", "MC101", "expects an integer"]),
        ("[tool.modelcheck.options.MC101]\nwarn-dpeth = 4\n", ["MC101", "no option 'warn-dpeth'", "warn-depth"]),
        ("[tool.modelcheck.options.missing-skip-connection]\nwarn-depth = 4.5\n", ["missing-skip-connection", "warn-depth"]),
        ("[tool.modelcheck.options.MC999]\nlimit = 1\n", ["MC999", "no installed rule"]),
        ("[tool.modelcheck.options.MC301]\nthreshold = 1\n", ["MC301", "no option 'threshold'", "none"]),
    ],
    ids=["wrong-type", "misspelt-key", "float-for-int-by-name", "unknown-code", "rule-without-options"],
)
def test_a_bad_option_is_one_configuration_line_and_exit_2(tmp_path: Path, options: str, fragments: list[str]) -> None:
    res = _lint(_project(tmp_path, options))
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and "bug in modelcheck" not in res.output
    for f in fragments:
        assert f in res.output


def test_a_good_option_reaches_the_rule(tmp_path: Path) -> None:
    # 12 Linear layers without a skip: under the default warn-depth nothing; at warn-depth = 4, MC101.
    quiet = _lint(_project(tmp_path, "[tool.modelcheck.options.MC101]\nwarn-depth = 40\nerror-depth = 50\n"), "-f", "json")
    loud = _lint(_project(tmp_path, "[tool.modelcheck.options.MC101]\nwarn-depth = 4\n"), "-f", "json")
    # MC101 may lead or ride along as a related finding of the same root cause (an init finding).
    codes = [[c for f in json.loads(r.stdout)["models"][0]["findings"] for c in (f["rule"], *(x["rule"] for x in f["related"]))]
             for r in (quiet, loud)]
    assert "MC101" not in codes[0] and "MC101" in codes[1]


def test_defaults_are_filled_in_and_ints_widen_to_floats() -> None:
    rules = {r.code: r for r in load_rules().rules}
    got = options_for(rules["MC103"], {"MC103": {"warn-chi": 2}})
    assert got["warn-chi"] == 2.0 and isinstance(got["warn-chi"], float)
    assert set(got) == set(rules["MC103"].options)
    with pytest.raises(ConfigError, match="true or false|an integer|a number"):
        options_for(rules["MC101"], {"MC101": {"warn-depth": True}})


def test_rule_docs_list_the_options(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["rule", "MC101"])
    assert res.exit_code == 0 and "warn-depth = " in res.output
