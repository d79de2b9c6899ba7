"""The README's "Which models are linted" section is the statement of what modelcheck does beyond SPEC §1:
every configuration form it shows is read by the config loader and builds the model it names."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from modelcheck.config.settings import parse_input_shape, parse_model_kwargs
from modelcheck.config.table import parse_table

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "fixtures" / "readme_models.py"


def _section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("## Which models are linted\n")
    return text[start:text.index("\n## ", start + 1)]


def _toml() -> str:
    blocks = re.findall(r"```toml\n(.*?)```", _section(), re.DOTALL)
    assert blocks, "the section shows its configuration forms"
    return "\n".join(blocks)


def _tables() -> dict[str, Any]:
    doc = tomllib.loads(_toml())
    return dict(doc["tool"]["modelcheck"]["models"])


def test_the_section_states_what_it_adds_to_spec_section_1() -> None:
    section = " ".join(_section().split())
    for claim in ("SPEC §1", "authoritative", "real dotted name", "import roots", "top-level models",
                  "required parameter of `forward`", "`--meta`", "memory budget", "**5**", "names the `forward` parameter"):
        assert claim in section, claim


def test_every_configuration_form_is_shown_and_read_by_the_config_loader() -> None:
    tables = _tables()
    parsed = parse_table({"models": tables})["models"]
    assert set(parsed) == set(tables)
    kwargs = [v for cfg in parsed.values() for v in cfg.kwargs.values()]
    forms = {
        "plain kwargs": any(not isinstance(v, dict) for v in kwargs),
        "call with kwargs": any(isinstance(v, dict) and "call" in v and "kwargs" in v for v in kwargs),
        "call with args": any(isinstance(v, dict) and "call" in v and "args" in v for v in kwargs),
        "build": any(cfg.build for cfg in parsed.values()),
        "input-shapes": any(cfg.input_shapes for cfg in parsed.values()),
    }
    assert all(forms.values()), forms


def test_the_command_line_forms_in_the_section_parse() -> None:
    section = _section()
    (model_kwargs,) = re.findall(r"--model-kwargs '([^']+)'", section)
    assert parse_model_kwargs([model_kwargs]) == {"Transformer": {"dim": 64, "depth": 2}}
    assert tomllib.loads(_toml())["tool"]["modelcheck"]["models"]["Transformer"]["kwargs"] == {"dim": 64, "depth": 2}
    (shape,) = set(re.findall(r"--input-shape (\S+?)`", section))
    spec = parse_input_shape(shape)
    assert spec.dtype == "int64" and spec.shape == (8, 32)


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_each_configured_model_is_built_from_its_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelcheck.config.settings import CliOptions, resolve_settings
    from modelcheck.engine.run import lint_paths

    (tmp_path / "pyproject.toml").write_text(_toml())
    shutil.copy(FIXTURE, tmp_path / "readme_models.py")
    monkeypatch.chdir(tmp_path)
    settings = resolve_settings([str(tmp_path)], CliOptions(cache=False))
    report = lint_paths([str(tmp_path)], settings)
    models = {m.model: m for m in report.models}
    assert set(models) == set(_tables()), (models, report.messages)
    assert all(m.status == "ok" for m in models.values()), [m.error for m in models.values()]
    assert report.skipped_files == 0

    sys.path.insert(0, str(FIXTURE.parent))
    try:
        import readme_models as rm
    finally:
        sys.path.remove(str(FIXTURE.parent))
    expected = {  # the README's values, built by hand
        "Transformer": rm.Transformer(dim=64, depth=2),
        "GPT": rm.GPT(rm.GPTConfig(n_layer=4, n_embd=128)),
        "ConvNet": rm.ConvNet(rm.Widths(16, 32)),
        "UNet": rm.UNet(rm.UNetConfig(channels=(32, 64)), attention=False),
        "TextEncoder": rm.TextEncoder(),
    }
    assert {n: models[n].num_parameters for n in expected} == {n: _params(m) for n, m in expected.items()}
    assert models["TextEncoder"].input_source == "configured input shapes int64:8,32"
