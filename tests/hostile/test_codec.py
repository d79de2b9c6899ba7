"""Reports as data (``modelcheck.engine.codec``): what crosses from a worker and lies in the cache
decodes into modelcheck's own records only; anything else is refused, never run."""

from __future__ import annotations

import json
import math
import pickle

import pytest

from modelcheck.diagnostics import (
    ErrorInfo,
    FileMessage,
    Finding,
    Metrics,
    ModelReport,
    ModuleBound,
    ProbeVerdict,
    Severity,
)
from modelcheck.engine import codec


def _report() -> ModelReport:
    finding = Finding("MC301", "depth-gradient-vanishing", Severity.ERROR, "vanishes", module="net.0", line=3,
                      numbers={"gain": 1e-30, "top": math.inf}, probe=ProbeVerdict.CONFIRMED)
    return ModelReport(file="m.py", model="Net", metrics=Metrics(0.5, math.nan, None), findings=(finding,),
                       module_bounds=(ModuleBound("net.0", 1.5, "gram", True),), notes=("a", "b"),
                       probe_summary={"steps": 3, "losses": [1.0, 0.5]})


def test_a_report_round_trips_exactly() -> None:
    result = ((_report(), ModelReport(file="x.py", model="<file>", status="error", error=ErrorInfo("worker", "died"))),
              (FileMessage("m.py", Severity.INFO, "skipped"),))
    back = codec.loads(codec.dumps(result))
    assert back[1] == result[1] and back[0][1] == result[0][1]
    got, want = back[0][0], result[0][0]
    assert got.findings == want.findings and got.module_bounds == want.module_bounds and got.notes == want.notes
    assert got.metrics.forward_gain == 0.5 and math.isnan(got.metrics.backward_gain)
    assert isinstance(got.findings[0].severity, Severity) and got.findings[0].numbers["top"] == math.inf


@pytest.mark.parametrize(
    "data",
    [
        {"!r": "Popen", "f": {"args": ["touch", "/tmp/x"]}},  # a type that is not a report record
        {"!r": "ModelReport", "f": {"file": "m.py", "model": "Net", "evil": 1}},  # a field it does not have
        {"!e": "Severity", "v": "fatal"},  # a value the enum does not have
        {"!x": 1},  # an unknown tag
        {"a": 1, "b": 2, "c": 3},
    ],
)
def test_anything_else_is_refused(data: object) -> None:
    with pytest.raises(codec.DecodeError):
        codec.decode(data)


def test_a_pickle_is_not_json() -> None:
    with pytest.raises(codec.DecodeError):
        codec.loads(pickle.dumps(_report()))
    with pytest.raises(codec.DecodeError):
        codec.loads(json.dumps({"!r": "ModelReport"}))
