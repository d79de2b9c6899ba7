"""Issue 11's fixtures (``tests/corpus``, measured truth in its ``labels.json``): the verdict the
measurements call for, and predicted gains within 10x of the measured ones for the patterns the passes
now follow (functional norms, GLU, exponential activations, SELU, SE gates, zero-init heads as if at
their default init)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from tests.zoo import lint_cli

CORPUS = Path(__file__).parent / "corpus"
LABELS: dict[str, dict[str, Any]] = json.loads((CORPUS / "labels.json").read_text())


def _verdict(rec: dict[str, Any]) -> str:
    if rec.get("family") == "real-world":
        return "clean"
    gains = [rec.get("forward_gain"), rec.get("backward_gain")]
    if any(g is None or not math.isfinite(g) or g < 1e-4 or g > 1e4 for g in gains):
        return "error"
    return "clean" if all(1e-2 <= g <= 1e2 for g in gains) and (rec["trains"] or rec["trains_sgd"]) else "ambiguous"


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("i11") / "r.json"
    _, report = lint_cli([CORPUS / name for name in sorted(LABELS)], out=out)
    return {Path(m["file"]).name: m for m in report["models"]}


@pytest.mark.parametrize("name", sorted(LABELS))
def test_verdict_matches_the_measurement(name: str, reports: dict[str, dict[str, Any]]) -> None:
    m = reports[name]
    assert m["status"] == "ok", m["error"]
    errors = [f["rule"] for f in m["findings"] if f["severity"] == "error"]
    verdict = _verdict(LABELS[name])
    if verdict == "error":
        assert errors, f"{name}: measured {verdict}, no error"
    elif verdict == "clean":
        assert not errors, f"{name}: measured clean, got {errors}"


@pytest.mark.parametrize("name", sorted(LABELS))
def test_predicted_gains_within_10x(name: str, reports: dict[str, dict[str, Any]]) -> None:
    rec, metrics = LABELS[name], reports[name]["metrics"]
    for key in ("forward_gain", "backward_gain"):
        truth = rec.get(f"{key}_as_if", rec.get(key))
        predicted = metrics[key]
        if truth is None:  # overflowed when measured: the prediction must be beyond 1e4 (or null: inf)
            assert predicted is None or predicted > 1e4, (name, key, predicted)
            continue
        if truth == 0:  # exactly zero by construction (a zero layer on the main path)
            assert predicted == 0, (name, key, predicted)
            continue
        assert predicted is not None and predicted > 0, (name, key, predicted)
        assert abs(math.log10(predicted) - math.log10(truth)) <= 1, (name, key, predicted, truth)


def test_deliberate_zero_init_is_named_as_info(reports: dict[str, dict[str, Any]]) -> None:
    for name in ("zero_init_head_resnet.py", "adaln_zero_dit.py", "zero_module_unet.py", "layerscale_zero_vit.py"):
        findings = reports[name]["findings"]
        infos = [f for f in findings if f["rule"] == "MC206"]
        assert len(infos) == 1 and infos[0]["severity"] == "info", (name, findings)
        assert "as if" in infos[0]["message"]
        assert not [f for f in findings if f["rule"] == "MC202"], (name, findings)
        # the gains are "as if": whatever MC303 says is about them, never about the zero itself
        assert not [f for f in findings if f["rule"] == "MC303" and f["severity"] != "info"], (name, findings)


def test_zero_init_on_a_plain_main_path_is_still_an_error(reports: dict[str, dict[str, Any]]) -> None:
    findings = reports["zero_init_plain_mlp.py"]["findings"]
    assert [f for f in findings if f["severity"] == "error"]
    assert not [f for f in findings if f["rule"] == "MC206"]


SE_PLAIN = '''
import torch
from torch import nn


class SE(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(c, c // 4, 1), nn.Conv2d(c // 4, c, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3), keepdim=True)))))


class PlainSENet(nn.Module):
    def __init__(self):
        super().__init__()
        layers = [nn.Conv2d(3, 16, 3, padding=1)]
        for _ in range(12):
            layers += [nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.SiLU(), SE(16),
                       nn.Conv2d(16, 16, 1, bias=False), nn.BatchNorm2d(16)]
        self.blocks = nn.Sequential(*layers)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        return self.head(self.blocks(x).mean((2, 3)))


def example_inputs():
    return (torch.randn(4, 3, 16, 16),)
'''


def test_squeeze_excitation_gates_are_not_a_second_path(tmp_path: Path) -> None:
    path = tmp_path / "se_plain.py"
    path.write_text(SE_PLAIN)
    _, report = lint_cli([path], out=tmp_path / "r.json")
    (m,) = report["models"]
    (f,) = [f for f in m["findings"] if f["rule"] == "MC101"]
    assert f["numbers"]["depth"] == 26  # 1 + 12 x 2 + head: the SE convs only scale what bypasses them


@pytest.mark.parametrize("name", sorted(LABELS))
def test_no_repeated_rule_and_module(name: str, reports: dict[str, dict[str, Any]]) -> None:
    places = [(f["rule"], f.get("module")) for f in reports[name]["findings"]]
    assert len(places) == len(set(places)), places
