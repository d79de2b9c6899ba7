"""The AST decisions of issue 10: what is a script, what a factory builds, what a model builds; the
import plan by real dotted name; default config arguments; inputs from forward's signature."""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
import torch
from torch import nn

from modelcheck.errors import ConfigError, InputError
from modelcheck.load.arguments import evaluate, fill, resolve_value
from modelcheck.load.modname import plan
from modelcheck.load.signature import declared_sizes, plan_signature, spatial_size, token_count
from modelcheck.load.toplevel import calls_by_definition, factory_targets, returned_names, script_line


def _tree(src: str) -> ast.Module:
    return ast.parse(textwrap.dedent(src))


@pytest.mark.parametrize(
    ("src", "line"),
    [
        ('"""doc"""\nimport torch\nX = 3\nlogger = getLogger(__name__)\n', None),
        ("import torch\ntry:\n    import apex\nexcept ImportError:\n    apex = None\n", None),
        ("def main():\n    pass\nif __name__ == '__main__':\n    main()\n", None),
        ("import torch.fx\ntorch.fx.wrap('f')\nMODELS.register_module(name='x')\n", None),
        ("def main():\n    pass\n\nmain()\n", 4),
        ("import torch\nfor i in range(3):\n    pass\n", 2),
        ("class Net:\n    pass\nmodel = Net()\n", 3),
        ("import argparse\np = argparse.ArgumentParser()\nargs = p.parse_args()\n", 3),
        ("if True:\n    print('x')\n", 2),
    ],
)
def test_script_line_finds_the_first_statement_that_runs(src: str, line: int | None) -> None:
    assert script_line(_tree(src)) == line


def test_factories_and_parts_come_from_the_ast() -> None:
    tree = _tree(
        """
        class Block(nn.Module):
            pass
        class Net(nn.Module):
            def __init__(self):
                self.b = Block()
        def _create(name, **kw):
            return Net(**kw)
        def tiny(**kwargs):
            return _create("tiny", **kwargs)
        def small(**kwargs):
            model = Net(**kwargs)
            return model
        def optimizer(model):
            return torch.optim.SGD(model.parameters())
        """
    )
    assert "Block" in calls_by_definition(tree)["Net"] and "Net" not in calls_by_definition(tree)["Block"]
    returned = returned_names(tree)
    targets = factory_targets(returned, returned, {"Net": True, "Block": True})
    assert targets["tiny"] == {"Net"} and targets["small"] == {"Net"} and targets["optimizer"] == frozenset()


def test_import_plan_uses_the_real_dotted_name(tmp_path: Path) -> None:
    (tmp_path / "proj" / "pkgx_q" ).mkdir(parents=True)
    (tmp_path / "proj" / "pyproject.toml").write_text("")
    (tmp_path / "proj" / "pkgx_q" / "__init__.py").write_text("")
    (tmp_path / "proj" / "pkgx_q" / "pkgx_q.py").write_text("")
    (tmp_path / "proj" / "nsx_q" / "sub").mkdir(parents=True)
    (tmp_path / "proj" / "nsx_q" / "sub" / "net.py").write_text("")
    (tmp_path / "proj" / "train_x_q.py").write_text("")
    root = (tmp_path / "proj").resolve()
    p = plan(root / "pkgx_q" / "pkgx_q.py")
    assert p.name == "pkgx_q.pkgx_q" and p.path[0] == root
    assert plan(root / "nsx_q" / "sub" / "net.py", frozenset({"nsx_q"})).name == "nsx_q.sub.net"
    assert plan(root / "nsx_q" / "sub" / "net.py").name == "net"  # does not import its namespace
    assert plan(root / "train_x_q.py").name == "train_x_q"
    assert plan(root / "pkgx_q" / "typing.py").name == "pkgx_q.typing"
    (tmp_path / "proj" / "typing.py").write_text("")
    assert plan(root / "typing.py").name is None  # would shadow the standard library


@dataclass
class _Cfg:
    width: int = 8


class _Net(nn.Module):
    def __init__(self, cfg: _Cfg) -> None:
        super().__init__()
        self.fc = nn.Linear(cfg.width, cfg.width)


class _Untyped(nn.Module):
    @staticmethod
    def get_default_config() -> SimpleNamespace:
        return SimpleNamespace(width=5)

    def __init__(self, config, depth: int) -> None:  # noqa: ANN001
        super().__init__()


def _module() -> ModuleType:
    mod = ModuleType(__name__)
    mod.__dict__.update(_Cfg=_Cfg, _Net=_Net, _Untyped=_Untyped)
    return mod


def test_config_arguments_are_built_from_defaults_and_configured_calls() -> None:
    mod = _module()
    got = fill(_Net, mod, {})
    assert got.missing == () and got.kwargs["cfg"] == _Cfg()
    got = fill(_Untyped, mod, {})
    assert got.missing == ("depth",) and got.kwargs["config"].width == 5
    assert resolve_value({"call": "_Cfg", "kwargs": {"width": 3}}, mod, "cfg") == _Cfg(3)
    assert isinstance(evaluate("_Net(_Cfg(width=4))", mod, "build"), _Net)
    with pytest.raises(ConfigError):
        resolve_value({"call": "nope", "kwargs": {}}, mod, "cfg")


class _Diffusion(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block_size = 8
        self.stem = nn.Conv2d(3, 8, kernel_size=16, stride=16)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x


class _TwoData(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a


def test_signature_roles_and_sizes() -> None:
    m = _Diffusion()
    assert plan_signature(m) == [("x", "data"), ("t", "time"), ("y", "label")]
    sizes = declared_sizes(m)
    assert token_count(sizes, 16) == 8
    assert spatial_size(m, sizes, 32) == 224  # a patch embedding
    assert spatial_size(nn.Sequential(nn.Conv2d(3, 4, 3)), declared_sizes(nn.Sequential()), 32) == 32
    with pytest.raises(InputError, match="b"):
        plan_signature(_TwoData())
