"""Bad input, end to end: one clear line naming the file, the model and what to do; exit code per SPEC §4.

Each case is linted together with a healthy model file, which must still be linted.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelcheck.cli import app

PLUGIN = Path(__file__).parent / "fixtures" / "plugin"

HEALTHY = """\
    import torch
    from torch import nn


    class Healthy(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))

        def forward(self, x):
            return self.net(x)
    """

MODEL_HEAD = "import torch\nfrom torch import nn\n\n\n"

# (id, file content or None for a missing path, exit code, model name in the report, error code, fragments)
CASES = [
    ("missing-path", None, 2, "<file>", "missing-path", ["no such file or directory"]),
    (
        "syntax-error",
        MODEL_HEAD + "class Net(nn.Module):\n    def forward(self x):\n        return x\n",
        2,
        "<file>",
        "syntax-error",
        ["syntax error at 6:22", "invalid syntax"],
    ),
    (
        "import-error",
        MODEL_HEAD + "import not_a_real_module_xyz\n\n\nclass Net(nn.Module):\n    pass\n",
        2,
        "<file>",
        "import-error",
        ["case.py:5", "ModuleNotFoundError: No module named 'not_a_real_module_xyz'", "install not_a_real_module_xyz or fix the import"],
    ),
    ("no-models", MODEL_HEAD + "class Config(dict):\n    pass\n", 0, None, None, ["no models found"]),
    (
        "constructor-needs-arguments",
        MODEL_HEAD + "class Net(nn.Module):\n    def __init__(self, dim, depth=2):\n        super().__init__()\n",
        0,
        None,
        None,
        ["skipped Net", "needs arguments (dim)", "[tool.modelcheck.models.Net] kwargs", "--model-kwargs 'Net={\"dim\": ...}'"],
    ),
    (
        "constructor-raises",
        MODEL_HEAD + "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        raise ValueError('width must be even')\n",
        2,
        "Net",
        "constructor",
        ["Net() raised at case.py:8", "ValueError: width must be even", "fix the constructor"],
    ),
    (
        "forward-raises",
        MODEL_HEAD
        + "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.l = nn.Linear(8, 8)\n\n"
        + "    def forward(self, x):\n        return self.l(x) / undefined_name\n",
        2,
        "Net",
        "forward",
        ["forward failed with inputs of shape (4, 8) at case.py:11", "NameError: name 'undefined_name' is not defined", "check the forward with the example inputs"],
    ),
    (
        "forward-not-implemented",
        MODEL_HEAD
        + "class Base(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.l = nn.Linear(8, 8)\n\n"
        + "    def forward(self, x):\n        raise NotImplementedError\n",
        2,
        "Base",
        "forward",
        ["NotImplementedError", "forward is not implemented"],
    ),
    (
        "inputs-of-the-wrong-shape",
        MODEL_HEAD
        + "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.l = nn.Linear(32, 8)\n\n"
        + "    def forward(self, x):\n        return self.l(x)\n\n\ndef example_inputs():\n    return (torch.randn(8, 64),)\n",
        2,
        "Net",
        "inputs",
        ["forward failed with inputs of shape (8, 64)", "mat1 and mat2 shapes cannot be multiplied", "fix example_inputs()"],
    ),
    (
        "nan-weights",
        MODEL_HEAD
        + "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.l = nn.Linear(8, 8)\n"
        + "        self.out = nn.Linear(8, 2)\n        nn.init.constant_(self.out.weight, float('nan'))\n\n"
        + "    def forward(self, x):\n        return self.out(self.l(x))\n",
        2,
        "Net",
        "weights",
        ["parameter 'out.weight' holds NaN values at initialization (16 of 16)"],
    ),
    (
        "sys-exit-at-import",
        "import sys\nimport torch\n\nsys.exit(1)\n\n\nclass Net(torch.nn.Module):\n    pass\n",
        0,
        None,
        None,
        ["not imported: top-level code at line 4", "--import-scripts"],  # decided on the AST: never run
    ),
    (
        "example-inputs-raise",
        MODEL_HEAD
        + "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.l = nn.Linear(8, 8)\n\n"
        + "    def forward(self, x):\n        return self.l(x)\n\n    def example_inputs(self):\n        raise OSError('dataset not found')\n",
        2,
        "Net",
        "inputs",
        ["example_inputs() method raised OSError: dataset not found"],
    ),
]


@pytest.fixture(autouse=True)
def _plugin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.syspath_prepend(str(PLUGIN))
    monkeypatch.chdir(tmp_path)


def _lint(*args: str):
    return CliRunner().invoke(app, ["lint", "--no-cache", "--select", "TP", *args])


@pytest.mark.parametrize(("case", "content", "code", "model", "error", "fragments"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line_and_the_rest_is_still_linted(
    tmp_path: Path, case: str, content: str | None, code: int, model: str | None, error: str | None, fragments: list[str]
) -> None:
    (tmp_path / "healthy.py").write_text(textwrap.dedent(HEALTHY))
    if content is not None:
        (tmp_path / "case.py").write_text(content)

    result = _lint("healthy.py", "case.py", "--format", "json")
    assert result.exit_code == code, result.output
    doc = json.loads(result.stdout)  # stdout holds the report and nothing else
    healthy = [m for m in doc["models"] if m["file"] == "healthy.py"]
    assert [(m["model"], m["status"]) for m in healthy] == [("Healthy", "ok")]

    if error is None:
        lines = [m["message"] for m in doc["messages"] if m["file"] == "case.py"]
        assert [m["severity"] for m in doc["messages"] if m["file"] == "case.py"] == ["info"]
        assert not [m for m in doc["models"] if m["file"] == "case.py"]
    else:
        (bad,) = [m for m in doc["models"] if m["file"] == "case.py"]
        assert (bad["model"], bad["status"], bad["error"]["code"]) == (model, "error", error)
        lines = [bad["error"]["message"]]
    (line,) = lines
    assert "\n" not in line and "Traceback" not in line
    for fragment in fragments:
        assert fragment in line

    text = _lint("healthy.py", "case.py")  # the human report carries the same line, no traceback
    assert text.exit_code == code
    flat = " ".join(text.stdout.split())
    assert "Traceback" not in text.output
    assert " ".join(fragments[0].split()) in flat
    assert "Healthy" in text.stdout


def test_debug_adds_the_traceback(tmp_path: Path) -> None:
    (tmp_path / "case.py").write_text(CASES[5][1])  # constructor raises
    result = _lint("case.py", "--format", "json", "--debug")
    assert result.exit_code == 2
    (bad,) = json.loads(result.stdout)["models"]
    assert "Traceback" in json.dumps(bad) and "width must be even" in json.dumps(bad)
    assert "torch_imported=True" in result.stderr


def test_untraceable_models_are_still_linted(tmp_path: Path) -> None:
    """Data-dependent control flow defeats symbolic tracing; a fallback tracer still lints it."""
    (tmp_path / "case.py").write_text(
        MODEL_HEAD
        + "class Dynamic(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.a = nn.Linear(8, 8)\n"
        + "        self.b = nn.Linear(8, 8)\n\n    def forward(self, x):\n        if x.sum() > 0:\n            return self.a(x)\n"
        + "        return self.b(x)\n"
    )
    result = _lint("case.py", "--format", "json")
    assert result.exit_code == 0, result.output
    (m,) = json.loads(result.stdout)["models"]
    assert m["status"] == "ok" and m["tracer"] != "fx"
