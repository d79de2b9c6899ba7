"""Construction sites (record_sites) and the source lines the tracers put on nodes."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from models.trace_fixtures import HERE, MODELS_FILE, build, line_of
from torch import nn

from modelcheck.ir import Op
from modelcheck.load.sites import record_sites
from modelcheck.trace.tracers import TRACERS, trace_model

FIXTURE_HELPER = HERE / "trace_fixtures.py"


def test_record_sites_restores_module_init() -> None:
    original = nn.Module.__init__
    with record_sites([HERE]):
        assert nn.Module.__init__ is not original
    assert nn.Module.__init__ is original
    with pytest.raises(RuntimeError), record_sites([HERE]):
        raise RuntimeError("boom")
    assert nn.Module.__init__ is original


def test_sites_point_at_the_constructing_line() -> None:
    model, _, sites = build("KaimingMLP")
    assert sites[id(model.inp)].line == line_of("self.inp = nn.Linear(16, width)")
    assert sites[id(model.inp)].file == str(MODELS_FILE)
    assert {sites[id(m)].line for m in model.hidden} == {line_of("nn.Linear(width, width) for _ in range(depth)")}
    # A user-defined module points where it was built, not at its own super().__init__() line.
    assert Path(sites[id(model)].file) == FIXTURE_HELPER


def test_sites_only_under_roots(tmp_path: Path) -> None:
    with record_sites([tmp_path]) as sites:
        lin = nn.Linear(2, 2)
    assert id(lin) not in sites


def test_sites_drop_collected_modules() -> None:
    with record_sites([Path(__file__).parent]) as sites:
        tmp = nn.Linear(2, 2)
        key = id(tmp)
        del tmp
        gc.collect()
    assert key not in sites


@pytest.mark.parametrize("tracer", TRACERS)
def test_node_sources(tracer: str) -> None:
    model, inputs, sites = build("KaimingMLP")
    g = trace_model(model, inputs, sites=sites, prefer=tracer)
    inp = next(n for n in g.nodes if n.module_path == "inp")
    assert inp.source is not None
    assert (inp.source.file, inp.source.line) == (str(MODELS_FILE), line_of("self.inp = nn.Linear(16, width)"))
    relu = g.of(Op.ACTIVATION)[0]  # a function: its own line in forward
    assert relu.source is not None and relu.source.line == line_of("h = torch.relu(self.inp(x))")
    out = g.modules["out"].source
    assert out is not None and out.line == line_of("self.out = nn.Linear(width, 4)")
    assert g.modules["hidden.0"].num_parameters == 32 * 32 + 32 and g.modules[""].num_parameters == 0


@pytest.mark.parametrize("tracer", TRACERS)
def test_leaf_without_site_points_at_its_call(tracer: str) -> None:
    model, inputs, _ = build("ResidualBlock")
    g = trace_model(model, inputs, prefer=tracer)  # no sites recorded
    fc1 = next(n for n in g.nodes if n.module_path == "fc1")
    assert fc1.source is not None
    assert fc1.source.line == line_of("return x + self.fc2(self.act(self.fc1(self.norm(x))))")


def test_deepcopied_layers_fall_back_to_parent_site() -> None:
    model, inputs, sites = build("TransformerStack")
    g = trace_model(model, inputs, sites=sites)
    norm = next(n for n in g.of(Op.NORM))
    assert id(model.encoder.layers[0].norm1) not in sites  # TransformerEncoder deep-copies its layer
    loc = g.source_of(norm)
    assert loc is not None and loc.line in (line_of("layer = nn.TransformerEncoderLayer("),
                                           line_of("self.encoder = nn.TransformerEncoder("))


def test_sites_skip_installed_packages_under_the_root(tmp_path: Path) -> None:
    """A virtualenv inside the project is library code: the site is the user's call into it."""
    lib = tmp_path / ".venv" / "lib" / "site-packages"
    lib.mkdir(parents=True)
    (lib / "fake_lib.py").write_text("from torch import nn\n\ndef make():\n    return nn.Linear(2, 2)\n")
    (tmp_path / "user_model.py").write_text("import fake_lib\n\ndef build():\n    return fake_lib.make()\n")
    import importlib.util
    import sys

    sys.path[:0] = [str(lib), str(tmp_path)]
    try:
        spec = importlib.util.spec_from_file_location("user_model", tmp_path / "user_model.py")
        assert spec is not None and spec.loader is not None
        user = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(user)
        with record_sites([tmp_path]) as sites:
            lin = user.build()
    finally:
        del sys.path[:2]
        sys.modules.pop("fake_lib", None)
    assert Path(sites[id(lin)].file).name == "user_model.py" and sites[id(lin)].line == 4
