"""Configuration: [tool.modelcheck] lookup (closest, never merged), validation, command line on top."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from modelcheck.config.settings import (
    ALL_MODELS,
    CliOptions,
    InputSpec,
    parse_input_shape,
    parse_model_kwargs,
    resolve_settings,
    split_selectors,
)
from modelcheck.diagnostics import Severity
from modelcheck.errors import ConfigError, UsageError


def _project(root: Path, toml: str, *files: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(textwrap.dedent(toml))
    for f in files:
        p = root / f
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x = 1\n")


FULL = """\
    [project]
    name = "demo"

    [tool.modelcheck]
    select = ["MC1", "MC301"]
    ignore = ["MC101"]
    extend-select = ["MC2"]
    per-file-ignores = { "tests/*" = ["MC3"] }
    severity = { MC301 = "warning" }
    fail-on = "warning"
    format = "json"
    exclude = ["fixtures/*"]
    meta = true
    tracer = "hooks"

    [tool.modelcheck.models.Net]
    kwargs = { dim = 64, depth = 2 }
    input-shapes = ["int64:8,32", [4, 16]]

    [tool.modelcheck.options.MC301]
    threshold = 0.5
    """


def test_every_key_is_read(tmp_path: Path) -> None:
    _project(tmp_path, FULL, "m.py")
    s = resolve_settings([str(tmp_path / "m.py")])
    assert s.config_path == tmp_path / "pyproject.toml"
    assert s.root == tmp_path.resolve()
    assert s.select == ("MC1", "MC301") and s.ignore == ("MC101",) and s.extend_select == ("MC2",)
    assert s.per_file_ignores == (("tests/*", ("MC3",)),)
    assert s.severity == (("MC301", Severity.WARNING),)
    assert s.fail_on is Severity.WARNING and s.format == "json" and s.meta is True and s.tracer == "hooks"
    assert s.exclude == ("fixtures/*",)
    assert s.kwargs_for("Net") == {"dim": 64, "depth": 2}
    assert s.input_shapes_for("Net") == (InputSpec((8, 32), "int64"), InputSpec((4, 16), "float32"))
    assert s.options == {"MC301": {"threshold": 0.5}}


def test_closest_pyproject_with_the_table_wins_and_configs_are_not_merged(tmp_path: Path) -> None:
    _project(tmp_path, '[tool.modelcheck]\nignore = ["MC101"]\nfail-on = "info"\n')
    _project(tmp_path / "sub", '[tool.modelcheck]\nselect = ["MC3"]\n', "m.py")
    _project(tmp_path / "sub" / "inner", '[project]\nname = "no-table"\n', "n.py")
    s = resolve_settings([str(tmp_path / "sub" / "inner" / "n.py")])
    assert s.config_path == tmp_path / "sub" / "pyproject.toml"  # inner has no [tool.modelcheck]
    assert s.select == ("MC3",)
    assert s.ignore == () and s.fail_on is Severity.ERROR  # nothing inherited from the outer file


def test_explicit_config_overrides_lookup_and_may_be_a_plain_toml(tmp_path: Path) -> None:
    _project(tmp_path, '[tool.modelcheck]\nselect = ["MC3"]\n', "m.py")
    other = tmp_path / "modelcheck.toml"
    other.write_text('select = ["MC1"]\n')
    s = resolve_settings([str(tmp_path / "m.py")], CliOptions(config=other))
    assert s.select == ("MC1",) and s.config_path == other


def test_command_line_beats_the_file(tmp_path: Path) -> None:
    _project(tmp_path, FULL, "m.py")
    cli = CliOptions(
        select=("ALL",),
        ignore=("MC102",),
        extend_select=("MC4",),
        fail_on="error",
        format="text",
        meta=False,
        tracer="fx",
        model_kwargs=('Net={"dim": 8}', '{"seed": 1}'),
        input_shapes=("2,16",),
    )
    s = resolve_settings([str(tmp_path / "m.py")], cli)
    assert s.select == ("ALL",)
    assert s.ignore == ("MC101", "MC102") and s.extend_select == ("MC2", "MC4")  # extended, as in ruff
    assert (s.fail_on, s.format, s.meta, s.tracer) == (Severity.ERROR, "text", False, "fx")
    assert s.kwargs_for("Net") == {"seed": 1, "dim": 8, "depth": 2}
    assert s.kwargs_for("Other") == {"seed": 1}
    assert s.input_shapes_for("Net") == (InputSpec((2, 16)),)


BAD_CONFIGS = [
    ('[tool.modelcheck]\nextend_select = ["MC1"]\n', "unknown key 'extend_select'", "extend-select"),
    ('[tool.modelcheck]\nfrobnicate = 1\n', "unknown key 'frobnicate'", "known keys"),
    ('[tool.modelcheck.models.Net]\nkwarg = {}\n', "unknown key 'kwarg' in [tool.modelcheck.models.Net]", "kwargs"),
    ('[tool.modelcheck]\nfail-on = "fatal"\n', "fail-on", "error"),
    ('[tool.modelcheck]\nformat = "xml"\n', "format", "sarif"),
    ('[tool.modelcheck]\nselect = "MC1"\nmeta = "yes"\n', "meta", "true or false"),
    ('[tool.modelcheck]\nseverity = { MC301 = "loud" }\n', "severity.MC301", "warning"),
    ('[tool.modelcheck]\nselect = [1]\n', "select", "list of strings"),
    ('[tool.modelcheck.models.Net]\ninput-shapes = ["8,x"]\n', "input-shapes", "8,3,32,32"),
    ('[tool.modelcheck\n', "invalid TOML", ""),
]


@pytest.mark.parametrize(("toml", "fragment", "hint"), BAD_CONFIGS)
def test_bad_configuration_is_one_clear_error_naming_the_key(tmp_path: Path, toml: str, fragment: str, hint: str) -> None:
    (tmp_path / "pyproject.toml").write_text(toml)
    (tmp_path / "m.py").write_text("")
    with pytest.raises(UsageError) as info:
        resolve_settings([str(tmp_path / "m.py")], CliOptions(config=tmp_path / "pyproject.toml"))
    text = str(info.value)
    assert fragment in text and hint in text
    assert "pyproject.toml" in text
    assert "\n" not in text


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_settings([str(tmp_path)], CliOptions(config=tmp_path / "nope.toml"))


def test_no_config_uses_defaults_and_the_closest_project_root(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "m.py").write_text("")
    s = resolve_settings([str(tmp_path / "src" / "m.py")])
    assert s.config_path is None and s.root == tmp_path.resolve()
    assert s.select == ("ALL",) and s.fail_on is Severity.ERROR and s.format == "text"


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("8,3,32,32", InputSpec((8, 3, 32, 32))),
        ("int64:8,32", InputSpec((8, 32), "int64")),
        ("long:4", InputSpec((4,), "int64")),
        ("bf16: 2, 8", InputSpec((2, 8), "bfloat16")),
        ("(4, 16)", InputSpec((4, 16))),
        ("4x16", InputSpec((4, 16))),
        ("bool:2,3", InputSpec((2, 3), "bool")),
    ],
)
def test_input_shapes(text: str, spec: InputSpec) -> None:
    assert parse_input_shape(text) == spec


@pytest.mark.parametrize("text", ["", "a,b", "complex7:2,2", "8,-1"])
def test_bad_input_shapes(text: str) -> None:
    with pytest.raises(UsageError, match="--input-shape"):
        parse_input_shape(text)


def test_model_kwargs() -> None:
    assert parse_model_kwargs(['Net={"dim": 64}', "Net={\"depth\": 2}", '{"p": 0.1}']) == {
        "Net": {"dim": 64, "depth": 2},
        ALL_MODELS: {"p": 0.1},
    }
    for bad in ["Net={dim: 64}", "Net=[1]", "={}"]:
        with pytest.raises(UsageError, match="--model-kwargs"):
            parse_model_kwargs([bad])


def test_selectors_split_on_commas() -> None:
    assert split_selectors(["MC1,MC301", " ALL ", ""]) == ("MC1", "MC301", "ALL")


def test_fingerprint_changes_with_settings_that_change_reports_only(tmp_path: Path) -> None:
    base = resolve_settings([str(tmp_path)])
    assert base.fingerprint() == resolve_settings([str(tmp_path)], CliOptions(format="json", jobs=4)).fingerprint()
    assert base.fingerprint() != resolve_settings([str(tmp_path)], CliOptions(ignore=("MC101",))).fingerprint()
    assert base.fingerprint() != resolve_settings([str(tmp_path)], CliOptions(input_shapes=("2,8",))).fingerprint()
