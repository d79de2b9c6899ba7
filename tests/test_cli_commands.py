"""The command line end to end: commands, formats, exit codes, configuration, the shipped examples."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

import modelcheck
from modelcheck.cli import app

REPO = Path(__file__).resolve().parents[1]
PLUGIN = Path(__file__).parent / "fixtures" / "plugin"


def _model(name: str) -> str:
    return (
        f"import torch\nfrom torch import nn\n\n\nclass {name}(nn.Module):\n    def __init__(self):\n"
        f"        super().__init__()\n        self.l = nn.Linear(8, 8)\n\n    def forward(self, x):\n        return self.l(x)\n"
    )


@pytest.fixture
def proj(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with a warning-level model, an error-level model and a clean one (the test plugin's rule)."""
    monkeypatch.syspath_prepend(str(PLUGIN))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODELCHECK_CACHE_DIR", str(tmp_path / ".cache"))
    (tmp_path / "warn.py").write_text(_model("FlagWarn"))
    (tmp_path / "err.py").write_text(_model("FlagErrorNet"))
    (tmp_path / "clean.py").write_text(_model("Clean"))
    return tmp_path


def _run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_version() -> None:
    result = _run("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"modelcheck {modelcheck.__version__}"


def test_rules_lists_and_rule_documents(proj: Path) -> None:
    listed = _run("rules")
    assert listed.exit_code == 0 and "TP001" in listed.stdout and "test-flag" in listed.stdout
    rows = json.loads(_run("rules", "--format", "json").stdout)
    assert {"code", "name", "severity", "summary", "requires", "origin"} <= set(rows[0])
    assert [r["code"] for r in rows] == sorted(r["code"] for r in rows)
    doc = _run("rule", "TP001")
    assert doc.exit_code == 0 and "Flags every model" in doc.stdout and "Why is this bad?" in doc.stdout
    assert _run("rule", "test-flag").exit_code == 0


def test_unknown_rule_is_a_one_line_error_exit_2(proj: Path) -> None:
    result = _run("rule", "MC999")
    assert result.exit_code == 2
    assert result.stdout == "" and result.stderr.strip() == "modelcheck: error: unknown rule 'MC999' (`modelcheck rules` lists them)"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["clean.py"], 0),
        (["warn.py"], 0),  # a warning does not fail by default
        (["warn.py", "--fail-on", "warning"], 1),
        (["err.py"], 1),
        (["err.py", "--exit-zero"], 0),
        (["err.py", "missing.py", "--exit-zero"], 2),  # --exit-zero never hides a tool error
        (["err.py", "--ignore", "TP001"], 0),
        (["."], 1),
    ],
)
def test_exit_codes(proj: Path, args: list[str], code: int) -> None:
    result = _run("lint", "--select", "TP", *args)
    assert result.exit_code == code, result.output


def test_fail_on_from_config_and_command_line_beats_it(proj: Path) -> None:
    (proj / "pyproject.toml").write_text('[tool.modelcheck]\nfail-on = "warning"\nselect = ["TP"]\n')
    assert _run("lint", "warn.py").exit_code == 1
    assert _run("lint", "warn.py", "--fail-on", "error").exit_code == 0


@pytest.mark.parametrize("fmt", ["json", "sarif", "github", "text"])
def test_formats_write_only_the_report_to_stdout(proj: Path, fmt: str) -> None:
    result = _run("lint", "--select", "TP", "warn.py", "clean.py", "--format", fmt)
    assert result.exit_code == 0, result.output
    out = result.stdout
    if fmt == "json":
        doc = json.loads(out)
        assert [m["model"] for m in doc["models"]] == ["FlagWarn", "Clean"]
        (finding,) = doc["models"][0]["findings"]
        assert (finding["rule"], finding["severity"], finding["line"]) == ("TP001", "warning", 5)
    elif fmt == "sarif":
        (run,) = json.loads(out)["runs"]
        assert [r["ruleId"] for r in run["results"]] == ["TP001"]
        assert "TP001" in [r["id"] for r in run["tool"]["driver"]["rules"]]
    elif fmt == "github":
        assert out.startswith("::warning file=warn.py,line=5")
    else:
        assert "FlagWarn" in out and "TP001" in out and "Clean" in out


def test_prints_in_user_code_never_reach_stdout(proj: Path) -> None:
    (proj / "chatty.py").write_text(
        "print('importing chatty')\n" + _model("Chatty").replace("return self.l(x)", "print('forward!')\n        return self.l(x)")
    )
    # top-level code (the print) makes it a script: imported only with --import-scripts
    result = _run("lint", "--select", "TP", "chatty.py", "--format", "json", "--import-scripts")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["models"][0]["model"] == "Chatty"
    assert "importing chatty" in result.stderr and "forward!" in result.stderr


def test_output_file_gets_the_report(proj: Path) -> None:
    result = _run("lint", "--select", "TP", "warn.py", "--format", "json", "--output", "report.json")
    assert result.exit_code == 0 and result.stdout == ""
    assert json.loads((proj / "report.json").read_text())["models"][0]["model"] == "FlagWarn"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--select", "NOPE1"], "unknown rule selector 'NOPE1' in select"),
        (["--probe-steps", "3"], "--probe-steps only apply with --probe"),
        (["--input-shape", "8,x"], "--input-shape: cannot read the shape '8,x'"),
        (["--model-kwargs", "Net=oops"], "--model-kwargs 'Net=oops': not JSON"),
        (["--config", "nope.toml"], "nope.toml does not exist"),
    ],
)
def test_usage_errors_exit_2_with_one_line(proj: Path, args: list[str], fragment: str) -> None:
    result = _run("lint", "warn.py", "--format", "json", *args)
    assert result.exit_code == 2
    assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1
    doc = json.loads(result.stdout)  # machine formats still get a report carrying the error
    assert doc["models"] == [] and fragment in doc["messages"][0]["message"]


def test_unknown_config_key_names_the_key(proj: Path) -> None:
    (proj / "pyproject.toml").write_text("[tool.modelcheck]\nselekt = ['TP']\n")
    result = _run("lint", "warn.py")
    assert result.exit_code == 2
    assert "unknown key 'selekt' in [tool.modelcheck]" in result.stderr and "did you mean 'select'" in result.stderr
    assert result.stdout == ""


def test_models_kwargs_and_input_shapes_from_the_command_line(proj: Path) -> None:
    (proj / "sized.py").write_text(
        textwrap.dedent(
            """\
            import torch
            from torch import nn


            class Sized(nn.Module):
                def __init__(self, dim):
                    super().__init__()
                    self.l = nn.Linear(dim, 2)

                def forward(self, x):
                    return self.l(x)


            class Other(nn.Module):
                def forward(self, x):
                    return x
            """
        )
    )
    result = _run(
        "lint", "sized.py", "--select", "TP", "--format", "json",
        "--model", "Sized", "--model-kwargs", 'Sized={"dim": 6}', "--input-shape", "3,6",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (m,) = json.loads(result.stdout)["models"]
    assert (m["model"], m["num_parameters"], m["input_source"]) == ("Sized", 14, "configured input shapes 3,6")


def test_jobs_and_cache_flags(proj: Path) -> None:
    first = _run("lint", "--select", "TP", ".", "--format", "json", "--jobs", "2")
    again = _run("lint", "--select", "TP", ".", "--format", "json", "--debug")
    assert first.exit_code == again.exit_code == 1
    strip = lambda out: [(m["file"], m["model"], m["findings"]) for m in json.loads(out)["models"]]  # noqa: E731
    assert strip(first.stdout) == strip(again.stdout)
    assert (proj / ".cache").is_dir()


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelcheck", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MODELCHECK_NO_CACHE": "1", **(env or {})},
    )


def test_a_commit_without_model_files_never_imports_torch(tmp_path: Path) -> None:
    (tmp_path / "utils.py").write_text("import json\n\n\ndef helper():\n    return 1\n")
    (tmp_path / "README.md").write_text("# hi\n")
    out = _cli("lint", "utils.py", "--debug", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "torch_imported=False" in out.stderr and "files=1 linted=0" in out.stderr


def test_debug_line_reports_the_workers_peak_memory() -> None:
    """The model is linted in a fork of the zygote, which the CLI cannot wait for: the worker reports its
    own peak RSS (torch imported: over 100 MB), not the CLI's (no torch: well under it)."""
    out = _cli("lint", "examples/healthy_resmlp.py", "--debug", cwd=REPO)
    assert out.returncode in (0, 1), out.stderr
    found = re.search(r"torch_imported=False .*peak_mb=(\d+)", out.stderr)
    assert found and int(found.group(1)) > 100, out.stderr[-2000:]


def test_the_shipped_examples_end_to_end() -> None:
    out = _cli("lint", "examples/", "--format", "json", cwd=REPO)
    assert out.returncode in (0, 1), out.stderr  # 1 when the broken example is flagged
    doc = json.loads(out.stdout)
    models = {(m["file"], m["model"]): m for m in doc["models"]}
    assert set(models) == {("examples/broken_mlp.py", "DeepSigmoidMLP"), ("examples/healthy_resmlp.py", "ResidualMLP")}
    assert all(m["status"] == "ok" for m in models.values())
    assert models["examples/broken_mlp.py", "DeepSigmoidMLP"]["input_source"] == "example_inputs() in file"
    assert models["examples/healthy_resmlp.py", "ResidualMLP"]["input_source"] == "example_inputs() method"
    assert doc["summary"]["models"] == 2


def test_pre_commit_hook_definition() -> None:
    text = (REPO / ".pre-commit-hooks.yaml").read_text()
    for line in ("- id: modelcheck", "entry: modelcheck lint", "language: python", "types: [python]", "require_serial: true"):
        assert line in text


@pytest.mark.parametrize("debug", [False, True])
def test_a_crash_of_modelcheck_itself_exits_2_with_one_line(proj: Path, monkeypatch: pytest.MonkeyPatch, debug: bool) -> None:
    import modelcheck.cli.lint as lint_cmd

    def broken(paths, settings):
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(lint_cmd, "lint_paths", broken)
    result = _run("lint", "warn.py", *(["--debug"] if debug else []))
    assert result.exit_code == 2
    assert "modelcheck: error: internal error: RuntimeError: engine exploded" in result.stderr
    assert ("Traceback" in result.stderr) == debug


MLP_BN = """\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(16, 64)
        self.bn = nn.BatchNorm1d(64)
        self.b = nn.Linear(64, 8)
        with torch.no_grad():
            self.bn.running_var.uniform_(0.5, 2.0)

    def forward(self, x):
        return self.b(torch.relu(self.bn(self.a(x))))

    def example_inputs(self):
        return (torch.randn(4, 16),)
"""


@pytest.mark.parametrize("bounds", ["fast", "tight"])
def test_json_lists_each_modules_certified_constant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bounds: str) -> None:
    monkeypatch.setenv("MODELCHECK_CACHE_DIR", str(tmp_path / ".cache"))
    (tmp_path / "net.py").write_text(MLP_BN)
    result = _run("lint", str(tmp_path / "net.py"), "--format", "json", "--bounds", bounds)
    assert result.exit_code == 0, result.stdout
    model = json.loads(result.stdout)["models"][0]
    rows = model["lipschitz_modules"]
    assert [r["bound"] for r in rows] == sorted((r["bound"] for r in rows), reverse=True)
    by = {r["module"]: r for r in rows}
    assert set(by) == {"a", "b"} and all(r["certified"] for r in rows)  # the BatchNorm is folded into "a"
    import torch

    torch.manual_seed(0)
    ns: dict = {}
    exec(MLP_BN, ns)
    net = ns["Net"]()
    scale = net.bn.weight.detach() / torch.sqrt(net.bn.running_var + net.bn.eps)
    exact_a = float(torch.linalg.matrix_norm((scale[:, None] * net.a.weight.detach()).double(), 2))
    exact_b = float(torch.linalg.matrix_norm(net.b.weight.detach().double(), 2))
    assert exact_a <= by["a"]["bound"] <= exact_a * 1.01 and by["a"]["method"] == "gram+bn"
    assert exact_b <= by["b"]["bound"] <= exact_b * 1.01
    assert model["metrics"]["lipschitz_upper_bound"] >= exact_a * exact_b


def test_bounds_option_is_validated(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.modelcheck]\nbounds = "exact"\n')
    (tmp_path / "m.py").write_text(_model("M"))
    result = _run("lint", str(tmp_path / "m.py"), "--config", str(tmp_path / "pyproject.toml"))
    assert result.exit_code == 2 and "bounds must be one of fast, tight" in result.output


def test_text_piped_to_a_file_keeps_error_lines_and_hints_whole(tmp_path: Path) -> None:
    """Off a terminal (a CI log, ``> report.txt``) an error line is one line, however narrow the
    console rich would assume, and the summary counts analysed, failed and skipped apart."""
    (tmp_path / "pyproject.toml").write_text("[tool.modelcheck.models.IdsIntoFloat]\ninput-shapes = ['int64:4,16']\n")
    deep = tmp_path / "models" / "a_rather_long_package_name" / "and_a_subpackage"
    deep.mkdir(parents=True)
    (deep / "ids_into_float_model.py").write_text(
        "import torch\nfrom torch import nn\n\n\nclass IdsIntoFloat(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.fc = nn.Linear(16, 4)\n\n    def forward(self, x):\n"
        "        return self.fc(x)\n"
    )
    (tmp_path / "healthy.py").write_text(_model("Healthy"))
    report = tmp_path / "report.txt"
    with report.open("w") as out:  # a real pipe-like stdout, not a terminal, with a narrow COLUMNS
        proc = subprocess.run(
            [sys.executable, "-m", "modelcheck", "lint", "."], cwd=tmp_path, stdout=out, stderr=subprocess.PIPE,
            text=True, timeout=300, env={**os.environ, "MODELCHECK_NO_CACHE": "1", "COLUMNS": "60"},
        )
    assert proc.returncode == 2, proc.stderr
    lines = report.read_text().splitlines()
    (error,) = [line for line in lines if ": IdsIntoFloat: error [inputs]: " in line]
    assert len(error) > 60
    assert error.endswith("(fix --input-shape or input-shapes in the config)")
    assert "input `x` of `IdsIntoFloat.forward` is int64 (4, 16) but the first layer `fc` (Linear) takes float" in error
    assert any(line.startswith("2 models, ") and line.endswith("; 1 analysed, 1 failed, 0 files skipped; 1 tool error")
               for line in lines), lines
