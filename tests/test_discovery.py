"""Discovery: which files are linted, and the AST pre-scan that decides which may define models."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from modelcheck.errors import SyntaxFileError
from modelcheck.load.discovery import collect_files, scan_source


def _touch(root: Path, *names: str) -> None:
    for name in names:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x = 1\n")


def test_folders_are_searched_recursively_skipping_hidden_cache_venv_and_build(tmp_path: Path) -> None:
    _touch(
        tmp_path,
        "a.py",
        "pkg/b.py",
        "pkg/deep/c.py",
        "notes.txt",
        ".hidden/d.py",
        "__pycache__/e.py",
        "build/f.py",
        ".git/g.py",
        "venv/h.py",
        "myenv/i.py",
        "dist/j.py",
        "x.egg-info/k.py",
        "env/agent.py",  # an RL "env" package is code, not a virtual environment
    )
    (tmp_path / "myenv" / "pyvenv.cfg").write_text("home = /usr\n")  # a venv with any name
    files, missing = collect_files([str(tmp_path)])
    rel = sorted(f.path.relative_to(tmp_path.resolve()).as_posix() for f in files)
    assert rel == ["a.py", "env/agent.py", "pkg/b.py", "pkg/deep/c.py"]
    assert missing == []
    assert not any(f.explicit for f in files)


def test_explicit_files_are_kept_deduplicated_and_shown_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _touch(tmp_path, "m.py", "sub/n.py", "sub/skip_me.py")
    monkeypatch.chdir(tmp_path)
    files, missing = collect_files(["m.py", "./m.py", "sub", "nope.py"], exclude=["skip_*"], root=tmp_path)
    assert [f.display for f in files] == ["m.py", "sub/n.py"]
    assert [f.explicit for f in files] == [True, False]
    assert missing == ["nope.py"]


def test_exclude_never_drops_a_file_named_explicitly(tmp_path: Path) -> None:
    _touch(tmp_path, "skip_me.py")
    files, _ = collect_files([str(tmp_path / "skip_me.py")], exclude=["skip_*"], root=tmp_path)
    assert len(files) == 1


SCAN_CASES = [
    # (source, classes, maybe_classes, factories)
    ("import torch.nn as nn\nclass A(nn.Module): pass", ("A",), (), ()),
    ("import torch\nclass A(torch.nn.Module): pass", ("A",), (), ()),
    ("from torch.nn import Module\nclass A(Module): pass", ("A",), (), ()),
    ("from torch import nn\nclass A(nn.Sequential): pass", ("A",), (), ()),
    # transitively, within the file, whatever the order of definition
    ("from torch import nn\nclass A(nn.Module): pass\nclass B(A): pass\nclass C(B): pass", ("A", "B", "C"), (), ()),
    # a base from elsewhere, in a file importing torch: maybe a model (decided after import)
    ("import torch\nfrom .base import Backbone\nclass Net(Backbone): pass", (), ("Net",), ()),
    ("from transformers import PreTrainedModel\nclass M(PreTrainedModel): pass", ("M",), (), ()),
    # a file that does not use torch and has no Module base: nothing
    ("class Config(dict): pass\ndef f(x): return x", (), (), ()),
    ("import torch\nclass Plain: pass", (), (), ()),
    # factories: return annotation names Module, a torch class, or a class of the file
    ("from torch import nn\ndef make() -> nn.Module: ...", (), (), ("make",)),
    ("import torch\ndef make() -> torch.nn.Sequential: ...", (), (), ("make",)),
    ("from torch import nn\nclass A(nn.Module): pass\ndef make() -> 'A': ...", ("A",), (), ("make",)),
    ("from __future__ import annotations\nfrom torch import nn\ndef make() -> nn.Module: ...", (), (), ("make",)),
    ("from torch import nn\ndef _private() -> nn.Module: ...\ndef helper(): ...", (), (), ()),
    ("def make() -> int: ...", (), (), ()),
]


@pytest.mark.parametrize(("source", "classes", "maybe", "factories"), SCAN_CASES)
def test_scan_finds_model_classes_and_factories(source: str, classes: tuple, maybe: tuple, factories: tuple) -> None:
    scan = scan_source(source)
    assert (scan.classes, scan.maybe_classes, scan.factories) == (classes, maybe, factories)
    assert scan.may_define_models == bool(classes or maybe or factories)


def test_scan_records_names_lines_and_imports_for_model_selection_and_the_cache() -> None:
    scan = scan_source(
        textwrap.dedent(
            """\
            import torch
            from . import blocks
            from .layers import Attn as A2

            class Net(torch.nn.Module):
                pass

            Alias = Net

            def build():
                import helpers
            """
        )
    )
    assert {"torch", "blocks", "A2", "Net", "Alias", "build"} <= scan.names
    assert scan.lines["Net"] == 5 and scan.lines["Alias"] == 8
    mods = {(i.module, i.level) for i in scan.imports}
    assert {("torch", 0), ("", 1), ("layers", 1), ("helpers", 0)} <= mods


def test_syntax_error_names_line_and_column() -> None:
    with pytest.raises(SyntaxFileError) as info:
        scan_source("import torch\n\ndef f(:\n    pass\n", "bad.py")
    assert "syntax error at 3:7" in str(info.value)
    assert info.value.code == "syntax-error"


def test_files_without_models_never_import_torch(tmp_path: Path) -> None:
    """The whole discover + engine path, in a fresh interpreter, on files that define no model."""
    (tmp_path / "util.py").write_text("import os\n\ndef helper(x):\n    return x\n")
    (tmp_path / "cfg.py").write_text("class Config(dict):\n    pass\n")
    code = textwrap.dedent(
        f"""
        import sys
        from modelcheck.config.settings import CliOptions, resolve_settings
        from modelcheck.engine.run import lint_paths
        paths = [{str(tmp_path)!r}]
        report = lint_paths(paths, resolve_settings(paths, CliOptions(cache=False)))
        assert report.models == () and report.messages == (), report
        assert "torch" not in sys.modules, "torch was imported"
        print("OK")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "OK"
