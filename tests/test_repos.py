"""Real-repository layouts with no configuration (issue 10): the fixture repositories in tests/repos/.

Each repository is copied to a temporary folder and linted with ``modelcheck lint .`` from its root, as
a user would in CI. Each test asserts which models were analysed (and how they were built and fed),
that the exit code follows the findings only, that skips take one line per file, and that no file
that must never be imported was imported (no ``SENTINEL_*`` file appeared).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

REPOS = Path(__file__).parent / "repos"


def _lint(tmp_path: Path, repo: str, *args: str) -> tuple[int, dict[str, Any], Path]:
    root = tmp_path / repo
    shutil.copytree(REPOS / repo, root)
    env = {**os.environ, "MODELCHECK_NO_CACHE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "modelcheck", "lint", ".", "--format", "json", *args],
        cwd=root, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.stdout.strip(), proc.stderr
    return proc.returncode, json.loads(proc.stdout), root


def _analysed(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["model"]: m for m in report["models"] if m["status"] == "ok"}


def _no_sentinel(root: Path) -> None:
    assert sorted(p.name for p in root.rglob("SENTINEL_*")) == []


def _skip_lines_per_file(report: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for m in report["messages"]:
        if m["message"].startswith(("not linted", "skipped")):
            out[m["file"]] = out.get(m["file"], 0) + 1
    return out


def _assert_exit_by_findings(code: int, report: dict[str, Any]) -> None:
    """Exit 0/1 by the findings only, and at most one skip line per file."""
    assert report["summary"]["tool_errors"] == 0, report
    errors = report["summary"]["errors"]
    assert code == (1 if errors else 0)
    assert all(c == 1 for c in _skip_lines_per_file(report).values()), report["messages"]


def test_config_dataclasses_default_configs_and_block_sizes(tmp_path: Path) -> None:
    code, report, root = _lint(tmp_path, "gpt_config")
    _assert_exit_by_findings(code, report)
    ok = _analysed(report)
    # the top-level models only: blocks, attention, MLPs and norms built by them are not models
    assert set(ok) == {"GPT", "Transformer", "MiniGPT"}
    # a token model is fed ids no longer than its block size / max_seq_len, within its vocabulary
    assert "int64 (" in ok["GPT"]["input_source"] and ", 8)" in ok["GPT"]["input_source"]
    assert ", 12)" in ok["Transformer"]["input_source"]
    assert ", 6)" in ok["MiniGPT"]["input_source"]
    assert all(ok[m]["metrics"]["forward_gain"] is not None for m in ok)
    assert all(c == 1 for c in _skip_lines_per_file(report).values())
    _no_sentinel(root)


def test_registered_kwargs_factories_smallest_variant_without_importing_twice(tmp_path: Path) -> None:
    code, report, root = _lint(tmp_path, "factories")
    _assert_exit_by_findings(code, report)
    ok = _analysed(report)
    assert set(ok) == {"convnext_atto"}  # the smallest factory of ConvNeXt; no helper function was called
    # a network with a patch-embedding stem and 32x downsampling is fed ImageNet-size images
    assert "(4, 3, 224, 224)" in ok["convnext_atto"]["input_source"]
    _no_sentinel(root)


def test_all_variants_lints_every_factory(tmp_path: Path) -> None:
    code, report, root = _lint(tmp_path, "factories", "--all-variants")
    _assert_exit_by_findings(code, report)
    assert set(_analysed(report)) == {"convnext_atto", "convnext_small"}
    _no_sentinel(root)


def test_module_named_like_its_package(tmp_path: Path) -> None:
    code, report, root = _lint(tmp_path, "pkg_same_name")
    _assert_exit_by_findings(code, report)
    assert set(_analysed(report)) == {"PkgNet"}  # Stem is built by PkgNet: a block, not a model
    assert _skip_lines_per_file(report) == {}  # layers.py's Stem is imported by pkg.py: no skip line
    _no_sentinel(root)


def test_namespace_packages_import(tmp_path: Path) -> None:
    code, report, root = _lint(tmp_path, "namespace")
    _assert_exit_by_findings(code, report)
    assert set(_analysed(report)) == {"Classifier"}
    assert _skip_lines_per_file(report) == {}  # blocks.py's ResidualMLP is a block of the classifier
    _no_sentinel(root)


def test_scripts_setup_and_conftest_are_never_imported(tmp_path: Path) -> None:
    code, report, root = _lint(tmp_path, "scripts")
    _assert_exit_by_findings(code, report)
    assert set(_analysed(report)) == {"TinyMLP"}
    _no_sentinel(root)
    lines = {m["file"]: m["message"] for m in report["messages"]}
    assert lines["train.py"].startswith("not imported: top-level code at line ")
    assert "setup.py" not in {m["file"] for m in report["models"]}
    assert "conftest.py" not in {m["file"] for m in report["models"]}
    assert "data.py" not in lines  # a Dataset does not make a model file


def test_import_scripts_opts_in(tmp_path: Path) -> None:
    code, report, root = _lint(tmp_path, "scripts", "--import-scripts")
    assert "Probe" in _analysed(report)
    assert (root / "SENTINEL_train").exists()  # the user asked for it
    assert not (root / "SENTINEL_setup").exists()  # setup.py never


def test_forward_with_timestep_and_label_inputs(tmp_path: Path) -> None:
    code, report, root = _lint(tmp_path, "diffusion")
    _assert_exit_by_findings(code, report)
    ok = _analysed(report)
    # DiT and its factories are variants of one class: the smallest is linted
    assert len(ok) == 1 and set(ok) <= {"DiT", "DiT_S"}
    (only,) = ok.values()
    source = only["input_source"]
    assert "(4, 4, 8, 8)" in source and "(4,)" in source and "int64 (4,)" in source
    _no_sentinel(root)


def test_a_default_config_too_big_for_memory_is_linted_on_meta(tmp_path: Path) -> None:
    code, report, root = _lint(tmp_path, "too_big")
    _assert_exit_by_findings(code, report)
    ok = _analysed(report)
    assert set(ok) == {"BigLM"}
    assert ok["BigLM"]["num_parameters"] > 10**10
    assert any("meta" in n and "memory" in n for n in ok["BigLM"]["notes"])
    assert sum(n.startswith("built on the meta device") for n in ok["BigLM"]["notes"]) == 1  # said once
    _no_sentinel(root)


def test_a_run_that_finds_models_but_analyses_none_fails(tmp_path: Path) -> None:
    (tmp_path / "net.py").write_text(
        "from torch import nn\n\nclass Needs(nn.Module):\n"
        "    def __init__(self, width: int) -> None:\n        super().__init__()\n"
        "        self.fc = nn.Linear(width, width)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "modelcheck", "lint", "net.py", "--no-cache"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 5, proc.stdout  # as pytest's "no tests collected"
    assert "none was analysed" in proc.stdout


def _in_process(root: Path, **cli: Any) -> Any:
    from modelcheck.config.settings import CliOptions, resolve_settings
    from modelcheck.engine.run import lint_paths

    settings = resolve_settings([str(root)], CliOptions(cache=False, **cli))
    return lint_paths([str(root)], settings)


def test_configured_values_build_objects_and_build_expressions(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    shutil.copy(REPOS / "gpt_config" / "model.py", root / "model.py")
    (root / "pyproject.toml").write_text(
        "[tool.modelcheck.models.GPT]\n"
        'kwargs = { config = { call = "GPTConfig", kwargs = { n_layer = 3, n_embd = 16 } } }\n'
    )
    (gpt,) = _in_process(root).models
    assert gpt.status == "ok" and gpt.num_parameters == 96 * 16 + 8 * 16 + 3 * (12 * 16 * 16 + 13 * 16) + 2 * 16 + 16 * 96
    (root / "pyproject.toml").write_text('[tool.modelcheck.models.GPT]\nbuild = "GPT(GPTConfig(n_layer=1))"\n')
    (one_layer,) = _in_process(root).models
    block = 12 * 32 * 32 + 13 * 32  # one layer of the default width 32 instead of the default two
    assert one_layer.status == "ok" and one_layer.num_parameters == 96 * 32 + 8 * 32 + block + 2 * 32 + 32 * 96


def test_skip_lines_configure_objects_with_call_not_json_and_are_no_github_annotations(tmp_path: Path) -> None:
    from modelcheck.render.github import render_github

    root = tmp_path / "proj"
    root.mkdir()
    (root / "net.py").write_text(
        "from dataclasses import dataclass\nfrom torch import nn\n\n\n@dataclass\nclass Cfg:\n    width: int\n\n\n"
        "class Net(nn.Module):\n    def __init__(self, cfg: Cfg) -> None:\n        super().__init__()\n"
        "        self.fc = nn.Linear(cfg.width, cfg.width)\n"
    )
    report = _in_process(root)
    (line,) = report.messages
    assert line.skip and line.skipped == ("Net",)
    assert 'cfg = { call = "Cfg", kwargs = { ... } }' in line.message and "--model-kwargs" not in line.message
    assert render_github(report, root=root) == ""
    assert report.none_analysed  # found a model class, analysed none: exit 5, not a pass


def test_missing_packages_are_one_grouped_line_listing_every_missing_import(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    head = "import torch\n"
    (root / "a.py").write_text(head + "import mc_absent_a\nimport mc_absent_b\ntry:\n    import mc_optional\nexcept ImportError:\n    pass\n\n\nclass A(torch.nn.Module):\n    pass\n")
    (root / "b.py").write_text(head + "from mc_absent_c.sub import thing\n\n\nclass B(torch.nn.Module):\n    pass\n")
    report = _in_process(root)
    assert report.models == ()  # no error report per file ...
    (line,) = report.messages  # ... but one line, still an error (exit 2)
    assert line.severity.value == "error" and report.tool_errors == 1
    assert line.message.startswith("missing packages: mc_absent_a, mc_absent_b, mc_absent_c (needed by 2 files")
    assert "mc_optional" not in line.message  # guarded by try/except ImportError


def test_several_unbuildable_classes_are_one_line_and_verbose_says_how_to_build_each(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "heads.py").write_text(
        "from torch import nn\n\n\nclass Head(nn.Module):\n    def __init__(self, dim: int) -> None:\n"
        "        super().__init__()\n        self.fc = nn.Linear(dim, 2)\n\n\n"
        "class Tail(nn.Module):\n    def __init__(self, width: int, depth: int) -> None:\n"
        "        super().__init__()\n        self.fc = nn.Linear(width, depth)\n"
    )
    (line,) = _in_process(root).messages  # one line for the file ...
    assert line.skip and line.skipped == ("Head", "Tail")
    assert line.message == "skipped Head (dim), Tail (width, depth): constructor arguments needed (--verbose says how to give them)"
    detailed = _in_process(root, verbose=True).messages  # ... and with --verbose, how to configure each
    assert [m.skipped for m in detailed] == [("Head",), ("Tail",)]
    assert "[tool.modelcheck.models.Tail] kwargs = { width = ..., depth = ... }" in detailed[1].message
