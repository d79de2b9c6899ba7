"""The engine: paths in, a RunReport out; failures become reports and the run goes on.

The rules here are the tests' own (passed in as a RuleSet), so nothing depends on which findings the
built-in rules produce.
"""

from __future__ import annotations

import textwrap
import types
from pathlib import Path

import pytest

from modelcheck.config.settings import CliOptions, Settings, resolve_settings
from modelcheck.diagnostics import Severity
from modelcheck.engine.records import FILE_MODEL
from modelcheck.engine.run import lint_paths
from modelcheck.registry import RuleSet
from modelcheck.rule import Violation, rule


def _flag(graph, ctx):
    yield Violation(f"{ctx.model} flagged")


def _crash(ctx):
    if ctx.model == "Crashy":
        raise ZeroDivisionError("boom")
    return ()


def _needs_signal(graph):
    yield Violation("signal rule ran")


FLAG = rule(code="MC801", name="flag-every-model", severity="warning")(_flag)
CRASH = rule(code="MC802", name="crash-on-crashy", severity="error")(_crash)
NEEDS = rule(code="MC803", name="needs-signal", severity="info", requires=("signal",))(_needs_signal)
RULES = RuleSet([FLAG, CRASH])

NETS = """\
    import torch
    from torch import nn


    class Small(nn.Module):
        def __init__(self):
            super().__init__()
            self.l = nn.Linear(8, 4)

        def forward(self, x):
            return self.l(x)


    class Crashy(nn.Module):
        def __init__(self):
            super().__init__()
            self.l = nn.Linear(8, 8)

        def forward(self, x):
            return torch.relu(self.l(x))


    class NeedsArgs(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.l = nn.Linear(dim, dim)

        def forward(self, x):
            return self.l(x)


    def make_small() -> nn.Module:
        return nn.Sequential(nn.Linear(4, 4), nn.Tanh())
    """


def _settings(path: Path, **cli: object) -> Settings:
    return resolve_settings([str(path)], CliOptions(cache=False, **cli))


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_every_model_is_reported_and_failures_do_not_stop_the_run(tmp_path: Path) -> None:
    nets = _write(tmp_path / "nets.py", NETS)
    broken = _write(tmp_path / "broken.py", "import torch\nimport not_a_real_module_xyz\n\nclass A(torch.nn.Module):\n    pass\n")
    paths = [str(tmp_path / "missing.py"), str(broken), str(nets)]
    report = lint_paths(paths, _settings(tmp_path), rules=RULES)

    by_model = {(Path(m.file).name, m.model): m for m in report.models}
    assert list(by_model) == [
        ("missing.py", FILE_MODEL),
        ("broken.py", FILE_MODEL),
        ("nets.py", "Small"),
        ("nets.py", "Crashy"),
        ("nets.py", "make_small"),
    ]
    assert by_model["missing.py", FILE_MODEL].error.code == "missing-path"
    assert by_model["broken.py", FILE_MODEL].error.code == "import-error"
    assert "No module named 'not_a_real_module_xyz'" in by_model["broken.py", FILE_MODEL].error.message

    small = by_model["nets.py", "Small"]
    assert small.status == "ok" and small.num_parameters == 8 * 4 + 4
    assert small.input_source.startswith("inferred from first layer l (Linear(")
    assert small.seconds is not None and small.seconds >= 0
    assert small.tracer
    assert [(f.rule, f.severity) for f in small.findings] == [("MC801", Severity.WARNING)]
    assert small.findings[0].file == str(nets) and small.findings[0].line == 5  # the class line

    (needs,) = report.messages
    assert needs.severity is Severity.INFO and "skipped NeedsArgs" in needs.message and "dim" in needs.message
    assert report.tool_errors == 3  # missing.py, broken.py, and Crashy's rule crash (MC000)


def test_a_crashing_rule_is_an_internal_error_finding_and_the_other_rules_still_run(tmp_path: Path) -> None:
    nets = _write(tmp_path / "nets.py", NETS)
    report = lint_paths([str(nets)], _settings(nets, model_names=("Crashy", "Small")), rules=RULES)
    crashy = next(m for m in report.models if m.model == "Crashy")
    assert crashy.status == "ok"
    codes = sorted(f.rule for f in crashy.findings)
    assert codes == ["MC000", "MC801"]
    internal = next(f for f in crashy.findings if f.rule == "MC000")
    assert internal.name == "internal-error" and internal.severity is Severity.ERROR
    assert "internal error in rule MC802 (crash-on-crashy): ZeroDivisionError: boom" in internal.message
    assert "report" in internal.message
    small = next(m for m in report.models if m.model == "Small")
    assert [f.rule for f in small.findings] == ["MC801"]


def test_model_names_select_exactly_those_and_unknown_names_are_errors(tmp_path: Path) -> None:
    nets = _write(tmp_path / "nets.py", NETS)
    report = lint_paths([str(nets)], _settings(nets, model_names=("NeedsArgs", "Nope"), model_kwargs=('NeedsArgs={"dim": 6}',)), rules=RULES)
    assert [(m.model, m.status, m.num_parameters) for m in report.models] == [("NeedsArgs", "ok", 42)]
    (msg,) = report.messages
    assert msg.severity is Severity.ERROR and "--model Nope" in msg.message

    # a model named explicitly whose constructor needs arguments is an error, not a skip
    report = lint_paths([str(nets)], _settings(nets, model_names=("NeedsArgs",)), rules=RULES)
    (m,) = report.models
    assert m.status == "error" and m.error.code == "constructor" and "--model-kwargs 'NeedsArgs=" in m.error.message


def test_model_names_in_a_folder_match_definitions_not_imports(tmp_path: Path) -> None:
    _write(tmp_path / "pkg" / "nets.py", NETS)
    _write(tmp_path / "pkg" / "train.py", "import torch\nfrom nets import Small\n\nclass Trainer(torch.nn.Module):\n    pass\n")
    report = lint_paths([str(tmp_path / "pkg")], _settings(tmp_path, model_names=("Small",)), rules=RULES)
    assert [(Path(m.file).name, m.model) for m in report.models] == [("nets.py", "Small")]
    # named explicitly, a file may offer an imported class
    train = str(tmp_path / "pkg" / "train.py")
    report = lint_paths([train], _settings(tmp_path, model_names=("Small",)), rules=RULES)
    assert [(Path(m.file).name, m.model, m.status) for m in report.models] == [("train.py", "Small", "ok")]


def test_suppression_line_and_file_level_counts_suppressed(tmp_path: Path) -> None:
    line = _write(tmp_path / "line.py", NETS.replace("class Small(nn.Module):", "class Small(nn.Module):  # noqa: MC801"))
    report = lint_paths([str(line)], _settings(line, model_names=("Small", "make_small")), rules=RULES)
    small, factory = report.models
    assert small.findings == () and small.suppressed == 1
    assert [f.rule for f in factory.findings] == ["MC801"] and factory.suppressed == 0

    whole = _write(tmp_path / "whole.py", "# modelcheck: noqa: MC8\n" + textwrap.dedent(NETS))
    report = lint_paths([str(whole)], _settings(whole, model_names=("Small", "make_small")), rules=RULES)
    assert all(m.findings == () and m.suppressed == 1 for m in report.models)


def test_selection_per_file_ignores_and_severity_overrides(tmp_path: Path) -> None:
    _write(
        tmp_path / "pyproject.toml",
        """\
        [tool.modelcheck]
        per-file-ignores = { "legacy/*" = ["flag-every-model"] }
        severity = { MC801 = "error" }
        """,
    )
    new = _write(tmp_path / "new" / "nets.py", NETS)
    old = _write(tmp_path / "legacy" / "nets.py", NETS)
    settings = resolve_settings([str(tmp_path)], CliOptions(cache=False, model_names=("Small",)))
    report = lint_paths([str(new), str(old)], settings, rules=RULES)
    assert [(Path(m.file).parent.name, [(f.rule, f.severity) for f in m.findings]) for m in report.models] == [
        ("new", [("MC801", Severity.ERROR)]),
        ("legacy", []),
    ]
    report = lint_paths([str(new)], resolve_settings([str(tmp_path)], CliOptions(cache=False, ignore=("MC8",))), rules=RULES)
    assert all(m.findings == () for m in report.models)


def test_meta_build_no_parameters_and_no_inputs_are_notes_not_errors(tmp_path: Path) -> None:
    nets = _write(
        tmp_path / "odd.py",
        """\
        import torch
        from torch import nn


        class NoParams(nn.Module):
            def forward(self, x):
                return torch.relu(x)


        class OnlyAParameter(nn.Module):
            def __init__(self):
                super().__init__()
                self.scale = nn.Parameter(torch.ones(()))

            def forward(self, x):
                return x * self.scale
        """,
    )
    report = lint_paths([str(nets)], _settings(nets), rules=RuleSet([FLAG]))
    (only,) = report.models  # beside a model with parameters, a parameter-free module is a helper
    report = lint_paths([str(nets)], _settings(nets, model_names=("NoParams",)), rules=RuleSet([FLAG]))
    (no_params,) = report.models
    assert no_params.status == "ok" and no_params.num_parameters == 0
    assert any("no parameters" in n for n in no_params.notes)
    assert only.status == "ok" and only.input_source == "none"
    assert any("no example inputs" in n for n in only.notes)
    assert [f.rule for f in only.findings] == ["MC801"]  # structural rules still ran

    report = lint_paths([str(nets)], _settings(nets, meta=True, model_names=("OnlyAParameter",)), rules=RuleSet([FLAG]))
    (m,) = report.models
    assert m.status == "ok" and m.num_parameters == 1 and any("meta device" in n for n in m.notes)


def test_rules_whose_pass_was_skipped_do_not_run_and_a_note_says_why(tmp_path: Path) -> None:
    nets = _write(
        tmp_path / "p.py",
        """\
        import torch
        from torch import nn


        class OnlyAParameter(nn.Module):
            def __init__(self):
                super().__init__()
                self.scale = nn.Parameter(torch.ones(()))

            def forward(self, x):
                return x * self.scale
        """,
    )
    report = lint_paths([str(nets)], _settings(nets), rules=RuleSet([FLAG, NEEDS]))
    (m,) = report.models
    ran = [f.rule for f in m.findings]
    skipped = [n for n in m.notes if n.startswith("rules not run")]
    # Without inputs the signal pass either skips itself (then MC803 must not run, and a note says
    # so) or is not installed (then MC803 runs, as run_passes treats a missing pass as optional).
    assert ("MC803" in ran) != bool(skipped)
    if skipped:
        assert "MC803" in skipped[0] and "signal" in skipped[0]


def test_jobs_give_the_same_report_as_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "fixtures" / "plugin"))
    for name in ("FlagA", "Plain", "FlagErrorB"):
        _write(
            tmp_path / f"{name.lower()}.py",
            f"import torch\n\nclass {name}(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
            f"        self.l = torch.nn.Linear(8, 8)\n\n    def forward(self, x):\n        return self.l(x)\n",
        )

    def summary(jobs: int) -> list[tuple]:
        settings = resolve_settings([str(tmp_path)], CliOptions(cache=False, jobs=jobs, select=("TP",)))
        report = lint_paths([str(tmp_path)], settings)
        return [(m.file, m.model, m.status, m.metrics, [(f.rule, f.severity) for f in m.findings]) for m in report.models]

    serial = summary(1)
    assert [row[4] for row in serial] == [[("TP001", Severity.WARNING)], [("TP001", Severity.ERROR)], []]
    assert summary(2) == serial


def test_probe_results_replace_the_findings_and_add_measured_gains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    import modelcheck.probe as probe
    from modelcheck.config.settings import ProbeSettings
    from modelcheck.diagnostics import LayerStat, Metrics, ProbeVerdict

    seen = {}

    def fake_run_probe(model, inputs, graph, findings, options):
        seen.update(inputs=inputs, findings=findings, options=options)
        confirmed = tuple(dataclasses.replace(f, probe=ProbeVerdict.CONFIRMED) for f in findings)
        return types.SimpleNamespace(
            findings=confirmed,
            metrics=Metrics(forward_gain=1.5, backward_gain=0.5),
            device="cpu",
            profile=(LayerStat("l", 1.0, 1.0, 1.1, 0.9),),
            notes=("probe ran 3 steps",),
            summary=lambda: {"device": "cpu", "losses": [2.0, 1.5, 1.25]},
        )

    monkeypatch.setattr(probe, "run_probe", fake_run_probe)
    nets = _write(tmp_path / "nets.py", NETS)
    settings = dataclasses.replace(
        _settings(nets, model_names=("Small",)), probe=ProbeSettings(steps=3, optimizer="sgd", lr=0.01)
    )
    (m,) = lint_paths([str(nets)], settings, rules=RULES).models
    assert m.status == "ok", m.error
    assert seen["options"].steps == 3 and seen["options"].optimizer == "sgd" and seen["options"].lr == 0.01
    assert [f.rule for f in seen["findings"]] == ["MC801"] and seen["inputs"][0].shape == (4, 8)
    assert [(f.rule, f.probe) for f in m.findings] == [("MC801", ProbeVerdict.CONFIRMED)]
    assert m.measured == Metrics(forward_gain=1.5, backward_gain=0.5)
    assert m.profile[0].measured_activation_rms == 1.1 and "probe ran 3 steps" in m.notes
    # the run's summary reaches the report (the JSON's "probe"), not only its verdicts
    assert m.probe_device == "cpu" and m.probe_summary == {"device": "cpu", "losses": [2.0, 1.5, 1.25]}


def test_the_heap_frozen_while_a_file_is_linted_is_thawed_after(tmp_path: Path) -> None:
    # frozen objects are never collected: a file's leftovers must not stay frozen for the next one
    import gc

    nets = _write(tmp_path / "nets.py", NETS)
    seen: list[int] = []
    probe = rule(code="MC804", name="freeze-probe", severity="info")(lambda graph: seen.append(gc.get_freeze_count()) or ())
    before = gc.get_freeze_count()
    lint_paths([str(nets)], _settings(tmp_path), rules=RuleSet([probe]))
    assert seen and min(seen) > before  # rules run with the imports and the model frozen
    assert gc.get_freeze_count() == before


def test_probe_findings_obey_selection_and_severity_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the probe adds its own findings (MC900-MC903): --ignore and [severity] apply to them as to the rest
    import dataclasses

    import modelcheck.probe as probe
    from modelcheck.config.settings import ProbeSettings
    from modelcheck.diagnostics import Finding
    from rules.probe import adam_oscillation, nonfinite

    def fake_run_probe(model, inputs, graph, findings, options):
        made = tuple(Finding(rule=r.code, name=r.name, severity=r.severity, message=f"{r.name} measured")
                     for r in (nonfinite.RULE, adam_oscillation.RULE))
        return types.SimpleNamespace(findings=tuple(findings) + made, metrics=None, device="cpu", profile=(), notes=(),
                                     summary=dict)

    monkeypatch.setattr(probe, "run_probe", fake_run_probe)
    nets = _write(tmp_path / "nets.py", NETS)
    rules = RuleSet([FLAG, nonfinite.RULE, adam_oscillation.RULE])
    base = _settings(nets, model_names=("Small",), ignore=("MC903",))
    settings = dataclasses.replace(base, probe=ProbeSettings(steps=3), severity=(("MC900", Severity.WARNING),))
    (m,) = lint_paths([str(nets)], settings, rules=rules).models
    assert [(f.rule, f.severity) for f in m.findings] == [("MC801", Severity.WARNING), ("MC900", Severity.WARNING)]
