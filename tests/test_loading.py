"""Importing user files safely and choosing/building their models (SPEC §1)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
import torch

from modelcheck.errors import ConstructorError, ImportFileError, WeightsError
from modelcheck.load.build import (
    Candidate,
    build,
    check_weights,
    configure_hint,
    imported,
)
from modelcheck.load.choose import Chosen, choose
from modelcheck.load.discovery import SourceFile, scan_file


def _write(path: Path, text: str) -> SourceFile:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return SourceFile(path.resolve(), path.name)


def _nosites():
    import contextlib

    return contextlib.nullcontext({})


def test_import_never_runs_the_main_block_nor_imports_a_file_twice(tmp_path: Path) -> None:
    src = _write(
        tmp_path / "model.py",
        """\
        import torch
        RAN = []
        if __name__ == "__main__":
            RAN.append("main")
        """,
    )
    with imported(src) as a, imported(src) as b:
        assert a is b and a.__name__ != "__main__"  # one module object, never two copies
        assert a.RAN == [] and a.__name__ in sys.modules
    assert a.__name__ not in sys.modules  # forgotten afterwards


@pytest.mark.parametrize("fails", [False, True])
def test_the_collector_is_off_while_the_file_imports_and_on_after(tmp_path: Path, fails: bool) -> None:
    # what an import makes outlives the lint: collections during it only rescan it (GPT-2: ~0.2 s)
    import gc

    src = _write(tmp_path / "model.py", f"""\
        import gc
        COLLECTING = gc.isenabled()
        if {fails}:
            raise RuntimeError("broken")
        """)
    assert gc.isenabled()
    if fails:
        with pytest.raises(ImportFileError), imported(src):
            pass
    else:
        with imported(src) as module:
            assert module.COLLECTING is False
            assert gc.isenabled()
    assert gc.isenabled()


def test_sibling_and_relative_imports_work_and_are_forgotten_afterwards(tmp_path: Path) -> None:
    _write(tmp_path / "proj" / "sibling_blocks_xq.py", "WIDTH = 8\n")
    plain = _write(tmp_path / "proj" / "model.py", "import sibling_blocks_xq\nW = sibling_blocks_xq.WIDTH\n")
    _write(tmp_path / "pkg_xq" / "__init__.py", "")
    _write(tmp_path / "pkg_xq" / "layers.py", "DEPTH = 3\n")
    packaged = _write(tmp_path / "pkg_xq" / "net.py", "from .layers import DEPTH\n")
    path_before = list(sys.path)
    with imported(plain) as m:
        assert m.W == 8
    with imported(packaged) as m:
        assert m.DEPTH == 3 and m.__package__ == "pkg_xq"
    assert sys.path == path_before
    assert "sibling_blocks_xq" not in sys.modules and "pkg_xq.layers" not in sys.modules
    # an edit to the sibling is seen by the next import (nothing stale is kept)
    (tmp_path / "proj" / "sibling_blocks_xq.py").write_text("WIDTH = 16\n")
    with imported(plain) as m:
        assert m.W == 16


@pytest.mark.parametrize(
    ("source", "fragments"),
    [
        ("import torch\nimport not_a_real_module_xyz\n", ["importing the file failed at", "model.py:2", "No module named 'not_a_real_module_xyz'", "install not_a_real_module_xyz"]),
        ("from torch import not_a_name_xyz\n", ["ImportError", "not_a_name_xyz", "fix the import"]),
        ("import torch\nx = 1 / 0\n", ["importing the file raised at", "model.py:2", "ZeroDivisionError", "module-level code"]),
        ("import sys\nsys.exit(2)\n", ["sys.exit()", '__name__ == "__main__"']),
    ],
)
def test_import_failures_are_one_line(tmp_path: Path, source: str, fragments: list[str]) -> None:
    src = _write(tmp_path / "model.py", source)
    with pytest.raises(ImportFileError) as info:
        with imported(src):
            pass
    text = str(info.value)
    assert "\n" not in text
    for fragment in fragments:
        assert fragment in text


MODELS = """\
    from __future__ import annotations
    import torch
    from torch import nn
    from torch.nn import Linear  # imported, not defined here: never a candidate

    class Helper:
        pass

    class Second(nn.Module):
        def forward(self, x):
            return x

    class First(nn.Module):
        def __init__(self, dim: int, depth: int = 2):
            super().__init__()

    def make_seq() -> nn.Sequential:
        return nn.Sequential(nn.Linear(4, 4))

    def make_first() -> First:
        return First(4)

    def _private() -> nn.Module:
        return nn.Identity()

    def not_annotated():
        return nn.Identity()

    def returns_int() -> int:
        return 1

    def example_inputs():
        return (torch.randn(2, 4),)
    """


def _choose(module: object, src: SourceFile, names: tuple[str, ...] = ()) -> Chosen:
    scan = scan_file(src.path)
    return choose(module, uses=scan.uses, returns=scan.returns, lines=scan.lines, kwargs_for=lambda n: {}, names=names)  # type: ignore[arg-type]


def test_candidates_are_the_top_level_models_defined_in_the_file(tmp_path: Path) -> None:
    src = _write(tmp_path / "model.py", MODELS)
    with imported(src) as module:
        chosen = _choose(module, src)
    # Second and First (built by make_first) have no parameters: beside make_seq they are helpers;
    # First needs arguments but make_first builds it, so it is no skip either
    assert [(c.name, c.kind) for c in chosen.models] == [("make_seq", "function")]
    assert chosen.skipped == () and chosen.missing_names == ()
    assert Candidate("First", "class", module.First).required_args({}) == ["dim"]


def test_model_names_pick_exactly_those(tmp_path: Path) -> None:
    src = _write(tmp_path / "model.py", textwrap.dedent(MODELS) + "\nINSTANCE = Second()\n")
    with imported(src, frozenset(), frozenset()) as module:
        chosen = _choose(module, src, ("make_first", "Linear", "INSTANCE", "Nope"))
        found = chosen.models
        # --model may name an imported class, or a module object (linted as it is)
        assert [(c.name, c.kind) for c in found] == [("make_first", "function"), ("Linear", "class"), ("INSTANCE", "instance")]
        assert found[2].obj() is module.INSTANCE
    assert chosen.missing_names == ("Nope",)


def test_build_constructs_seeded_and_reports_constructor_problems(tmp_path: Path) -> None:
    src = _write(
        tmp_path / "model.py",
        """\
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                if dim < 0:
                    raise ValueError("dim must be positive")
                self.l = nn.Linear(dim, dim)

        def not_a_model():
            return 3
        """,
    )
    roots = (tmp_path.resolve(),)
    with imported(src) as module:
        cand = Candidate("Net", "class", module.Net, 4)
        a, _, meta, notes, _ = build(cand, {"dim": 8}, meta=False, sites=_nosites, roots=roots)
        b, *_ = build(cand, {"dim": 8}, meta=False, sites=_nosites, roots=roots)
        assert torch.equal(a.l.weight, b.l.weight) and meta is False and notes == []
        m, _, meta, _, _ = build(cand, {"dim": 8}, meta=True, sites=_nosites, roots=roots)
        assert meta and m.l.weight.is_meta

        with pytest.raises(ConstructorError) as info:
            build(cand, {}, meta=False, sites=_nosites, roots=roots)
        assert "needs constructor arguments (dim)" in str(info.value)
        assert "[tool.modelcheck.models.Net] kwargs" in str(info.value) and "--model-kwargs 'Net=" in str(info.value)

        with pytest.raises(ConstructorError) as info:
            build(cand, {"dim": -1}, meta=False, sites=_nosites, roots=roots)
        assert "Net(dim=-1) raised at " in str(info.value)
        assert "model.py:8: ValueError: dim must be positive" in str(info.value)

        bad = Candidate("not_a_model", "function", module.not_a_model)
        with pytest.raises(ConstructorError, match="returned int, not an nn.Module"):
            build(bad, {}, meta=False, sites=_nosites, roots=roots)


def test_build_hint_offers_the_call_form_for_a_config_class_parameter(tmp_path: Path) -> None:
    src = _write(
        tmp_path / "model.py",
        """\
        from dataclasses import dataclass
        from torch import nn

        @dataclass
        class Cfg:
            width: int

        class Net(nn.Module):
            def __init__(self, cfg: Cfg):
                super().__init__()
                self.l = nn.Linear(cfg.width, cfg.width)
        """,
    )
    with imported(src) as module:
        with pytest.raises(ConstructorError) as info:  # as --model Net would, with nothing configured
            build(Candidate("Net", "class", module.Net, 7), {}, meta=False, sites=_nosites, roots=(tmp_path.resolve(),))
    hint = str(info.value)
    assert 'kwargs = { cfg = { call = "Cfg", kwargs = { ... } } }' in hint and 'build = "Net(...)"' in hint
    assert "--model-kwargs" not in hint  # a JSON dict would reach the constructor as a dict


def test_a_build_out_of_memory_is_retried_on_meta(tmp_path: Path) -> None:
    src = _write(
        tmp_path / "model.py",
        """\
        import torch
        from torch import nn

        class Huge(nn.Module):
            def __init__(self):
                super().__init__()
                self.l = nn.Linear(8, 8)
                if not self.l.weight.is_meta:
                    raise RuntimeError("[enforce fail] DefaultCPUAllocator: not enough memory: you tried to allocate 1 TB")
        """,
    )
    with imported(src) as module:
        model, _, meta, notes, _ = build(
            Candidate("Huge", "class", module.Huge), {}, meta=False, sites=_nosites, roots=(tmp_path.resolve(),)
        )
    assert meta and model.l.weight.is_meta
    assert "meta device" in notes[0] and "not enough memory" in notes[0]


def test_configure_hint_shows_both_ways() -> None:
    hint = configure_hint("Net", ["dim", "depth"])
    assert "[tool.modelcheck.models.Net] kwargs = { dim = ..., depth = ... }" in hint
    assert """--model-kwargs 'Net={"dim": ..., "depth": ...}'""" in hint


def test_weights_with_nan_or_inf_name_the_first_bad_parameter() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 4))
    check_weights(model)  # finite: fine
    with torch.no_grad():
        model[1].bias[2] = float("inf")
    with pytest.raises(WeightsError, match=r"parameter '1.bias' holds inf values at initialization \(1 of 4\)"):
        check_weights(model)
    with torch.no_grad():
        model[0].weight[0, 0] = float("nan")
    with pytest.raises(WeightsError, match="'0.weight' holds NaN"):
        check_weights(model)
