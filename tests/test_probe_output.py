"""What the probe shows: the PNG plot, the progress bar, the JSON summary, and the probe rules' docs."""

from __future__ import annotations

import builtins
import importlib
import io
import json

import pytest
import torch
import torch.nn as nn
from zoo import lint_cli, tiny_model

from modelcheck.errors import UsageError
from modelcheck.probe import ProbeOptions, run_probe
from modelcheck.probe.findings import compress_labels
from modelcheck.probe.progress import progress_bar
from modelcheck.rule import DOC_SECTIONS

PROBE_RULES = {
    "nonfinite": ("MC900", "probe-nonfinite", "error"),
    "frozen_layers": ("MC901", "probe-frozen-layers", "warning"),
    "unstable_lr": ("MC902", "probe-unstable-lr", "warning"),
    "adam_oscillation": ("MC903", "probe-adam-oscillation", "info"),
}


def small_run(**options: object):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 2))
    return run_probe(model, (torch.randn(8, 6),), None, (),
                     ProbeOptions(**{"steps": 5, "progress": False, "sharpness_checks": 1, "device": "cpu", **options}))


def test_plot_writes_a_png(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "grads.png"
    small_run(plot=str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_is_one_clear_error(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: object, **kwargs: object):
        if name.split(".")[0] == "matplotlib":
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(UsageError) as err:
        small_run(plot=str(tmp_path / "x.png"))
    assert "matplotlib" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "x.png").exists()


def test_progress_bar_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    for tty, enabled, shown in ((True, True, True), (True, False, False), (False, True, False)):
        stream = Tty() if tty else io.StringIO()
        monkeypatch.setattr("sys.stderr", stream)
        with progress_bar(3, "cpu", enabled) as advance:
            for _ in range(3):
                advance("loss 1")
        assert bool(stream.getvalue()) is shown


def test_summary_is_json_safe() -> None:
    result = small_run()
    data = json.loads(json.dumps(result.summary(), allow_nan=False))
    assert data["device"] == "cpu" and len(data["losses"]) == 5 and data["layers"] == ["0", "2"]
    assert result.device == "cpu" and result.seconds > 0


def test_the_json_report_carries_the_probe_run(tmp_path) -> None:
    # end to end: the summary above is what `lint --probe --format json` prints as the model's "probe"
    model = tmp_path / "tiny.py"
    model.write_text(tiny_model(width=6))
    _, report = lint_cli([model], "--no-cache", "--probe", "--probe-steps", "3", "--device", "cpu",
                         out=tmp_path / "report.json")
    (m,) = report["models"]
    assert m["probe_device"] == "cpu" and m["probe"]["device"] == "cpu"
    assert len(m["probe"]["losses"]) == 3 and all(isinstance(v, float) for v in m["probe"]["losses"])


def test_meta_models_are_refused() -> None:
    with torch.device("meta"):
        model = nn.Linear(3, 3)
    with pytest.raises(UsageError, match="meta"):
        run_probe(model, (torch.randn(2, 3),), None, (), ProbeOptions(progress=False, device="cpu"))


@pytest.mark.parametrize("module", sorted(PROBE_RULES))
def test_probe_rules_are_documented_and_silent_statically(module: str) -> None:
    rule = importlib.import_module(f"modelcheck_rules.probe.{module}").RULE
    code, name, severity = PROBE_RULES[module]
    assert (rule.code, rule.name, rule.severity.value) == (code, name, severity)
    for section in DOC_SECTIONS:
        assert f"## {section}" in rule.doc
    assert "--probe" in rule.doc
    assert list(rule.run(graph=None, ctx=None, options={})) == []  # type: ignore[arg-type]


@pytest.mark.parametrize(("labels", "expected"), [
    (["layers.0", "layers.1", "layers.2"], "layers.0-2"),
    (["blocks.0.fc", "blocks.1.fc", "head"], "blocks.0-1.fc, head"),
    (["0", "2", "4"], "0-4"),
    (["a.0", "b", "c", "d", "e"], "a.0, b, c, d and 1 more"),
])
def test_compress_labels(labels: list[str], expected: str) -> None:
    assert compress_labels(labels) == expected
