"""The structural rules on the fixture models in tests/models (one bad and one good file per rule):
traced like the linter does, each file's codes at warning or above must be exactly the expected ones."""

from __future__ import annotations

import pytest
from structure_models import MODELS, lint_model, load_file, loud, worst

from modelcheck.diagnostics import Severity

pytest.importorskip("modelcheck.trace")

W, E, I = Severity.WARNING, Severity.ERROR, Severity.INFO

# file -> (codes at warning or above with their severity, codes expected at info only)
CASES: dict[str, tuple[dict[str, Severity], tuple[str, ...]]] = {
    "mc101_bad_plain_cnn.py": ({"MC101": W}, ()),
    "mc101_bad_plain_mlp_60.py": ({"MC101": E}, ()),
    "mc101_good_isometric_tanh.py": ({}, ("MC101",)),
    "mc101_good_resnet.py": ({}, ()),
    "mc101_good_resnet50.py": ({}, ()),
    "mc101_good_vgg16_bn.py": ({}, ()),
    "mc102_bad_kaiming_residual.py": ({"MC102": E}, ()),
    "mc102_bad_default_residual.py": ({"MC102": W}, ()),
    "mc102_good_scaled_residuals.py": ({}, ()),
    "mc102_good_nf_resnet.py": ({}, ()),
    "mc102_good_convnext.py": ({}, ()),
    "mc103_bad_sigmoid_mlp.py": ({"MC103": E}, ()),
    "mc103_good_gates.py": ({}, ()),
    "mc104_bad_postln_30.py": ({"MC104": W}, ()),
    "mc104_info_bertlike_16.py": ({}, ("MC104",)),
    "mc104_good_preln_12.py": ({}, ()),
    "mc105_bad_unscaled.py": ({"MC105": W}, ()),
    "mc105_good_scaled.py": ({}, ()),
    "mc105_info_folded_scale.py": ({}, ("MC105",)),
    "mc205_bad_tiny_input.py": ({"MC205": W}, ()),
    "mc205_good_bert_eps.py": ({}, ()),
}


def test_every_fixture_file_is_listed() -> None:
    files = {p.name for p in MODELS.glob("mc1*.py")} | {p.name for p in MODELS.glob("mc205*.py")}
    assert files == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixture_model(name: str) -> None:
    expected, infos = CASES[name]
    findings = lint_model(*load_file(MODELS / name))
    messages = [f"{f.rule} {f.severity.value}: {f.message}" for f in findings]
    assert loud(findings) == expected, messages
    got = worst(findings)
    for code in infos:
        assert got.get(code) is I, messages
    for f in findings:
        assert f.module and f.fix, f  # each finding says where and what to do


TRACER_CASES = ("mc101_bad_plain_cnn.py", "mc102_bad_kaiming_residual.py", "mc102_good_convnext.py",
                "mc103_good_gates.py", "mc104_bad_postln_30.py", "mc105_bad_unscaled.py", "mc205_bad_tiny_input.py")


@pytest.mark.slow
@pytest.mark.parametrize("tracer", ["fx", "export", "hooks"])
@pytest.mark.parametrize("name", TRACER_CASES)
def test_every_tracer_gives_the_same_verdict(name: str, tracer: str) -> None:
    from modelcheck.errors import TraceError

    model, inputs = load_file(MODELS / name)
    try:
        findings = lint_model(model, inputs, prefer=tracer)
    except TraceError:
        pytest.skip(f"{tracer} cannot trace {name}")
    assert loud(findings) == CASES[name][0]


META_CASES = ("mc101_good_isometric_tanh.py", "mc102_bad_kaiming_residual.py", "mc102_good_scaled_residuals.py",
              "mc102_good_nf_resnet.py", "mc102_good_convnext.py", "mc104_bad_postln_30.py", "mc105_bad_unscaled.py",
              "mc105_info_folded_scale.py", "mc205_bad_tiny_input.py")


@pytest.mark.parametrize("name", META_CASES)
def test_meta_device_build_gives_the_same_verdict(name: str) -> None:
    """No weights: init statistics come from what the init recorder saw while the model was built."""
    model, inputs, records = load_file(MODELS / name, meta=True)
    findings = lint_model(model, inputs, init_records=records)
    expected, infos = CASES[name]
    assert loud(findings) == expected, [f.message for f in findings]
    assert all(worst(findings).get(code) is I for code in infos)
