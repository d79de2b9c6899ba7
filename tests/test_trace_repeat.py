"""Repeated blocks traced once (``trace/repeat.py``): the replayed graph and the report are the ones a
full trace gives, node for node and number for number; blocks that are not the same, or forwards
that treat them differently, fall back to the full trace."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import modelcheck.trace.repeat as repeat
from modelcheck.config.settings import CliOptions, resolve_settings
from modelcheck.engine.run import lint_paths
from modelcheck.ir import Graph
from modelcheck.registry import load_rules
from modelcheck.render.json import report_dict
from modelcheck.trace.tracers import trace_model

_BLOCKS = '''
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, d: int, layer_idx: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.layer_idx = layer_idx
        self.norm = nn.LayerNorm(d, eps=eps)
        self.up = nn.Linear(d, 4 * d)
        self.down = nn.Linear(4 * d, d)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.down(self.act(self.up(self.norm(x))))


class Stack(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Linear(8, 32)
        self.blocks = nn.ModuleList([Block(32, i) for i in range(DEPTH)])
        self.head = nn.Linear(32, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def example_inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(4, 8, generator=torch.Generator().manual_seed(0)),)
'''


def _module(folder: Path, depth: int, extra: str = "") -> dict[str, Any]:
    """The model file's namespace, imported from a real file (source lines point into it)."""
    path = folder / f"blocks_{depth}.py"
    path.write_text(_BLOCKS.replace("DEPTH", str(depth)) + textwrap.dedent(extra))
    spec = importlib.util.spec_from_file_location(f"blocks_{depth}_{id(folder)}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return vars(module)


def _rows(g: Graph) -> list[tuple[Any, ...]]:
    at = {id(n): i for i, n in enumerate(g.nodes)}
    return [(n.name, n.op, n.target, n.module_path, n.module_type, n.source, n.meta, tuple(sorted(n.params.items())),
             repr(sorted(n.attrs.items())), tuple(at[id(i)] for i in n.inputs)) for n in g.nodes]


class _Spy:
    """Counts how the replay went: stacks found, and expansions that held or fell back."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.results: list[bool] = []
        expand = repeat.expand

        def spy(builder: Any, found: Any) -> bool:
            ok = expand(builder, found)
            self.results.append(ok)
            return ok

        monkeypatch.setattr(repeat, "expand", spy)


def _lint(path: Path, rules: Any) -> list[dict[str, Any]]:
    """The JSON report of ``path``'s models, in this process (the spy cannot see a forked worker)."""
    report = lint_paths([str(path)], resolve_settings([str(path)], CliOptions(cache=False)), rules=rules)
    return [{k: v for k, v in m.items() if k != "seconds"} for m in report_dict(report)["models"]]


def _both(model: nn.Module, inputs: tuple[Any, ...], monkeypatch: pytest.MonkeyPatch,
          prefer: str | None = None) -> tuple[Graph, Graph]:
    replayed = trace_model(model, inputs, prefer=prefer)
    with monkeypatch.context() as m:
        m.setattr(repeat, "MIN_DEPTH", 10**9)
        full = trace_model(model, inputs, prefer=prefer)
    return replayed, full


@pytest.mark.parametrize(("depth", "tracer"), [(12, "fx"), (48, "fx"), (12, "export"), (48, "hooks")])
def test_replay_equals_full_trace(depth: int, tracer: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scope = _module(tmp_path, depth)
    torch.manual_seed(0)
    model = scope["Stack"]()
    spy = _Spy(monkeypatch)
    replayed, full = _both(model, scope["example_inputs"](), monkeypatch, prefer=tracer)
    assert spy.results == [True]
    assert [s.path for s in repeat.stacks(model)] == ["blocks"]
    assert _rows(replayed) == _rows(full)
    # every block reads its own weights
    downs = [n.params["weight"] for n in replayed.nodes if n.module_path.endswith(".down")]
    assert downs == [f"blocks.{i}.down.weight" for i in range(depth)]


@pytest.mark.parametrize("depth", [12, 48])
def test_report_equals_full_analysis(depth: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Gains, bounds, findings and profile of the lint are those of the full trace; a block scaled up
    is reported under its own path. (In this process, with the built-in rules: the command line would
    lint in a forked worker that the spy cannot see.)"""
    src = _BLOCKS.replace("DEPTH", str(depth)) + textwrap.dedent(f'''
        class Scaled(Stack):
            def __init__(self) -> None:
                super().__init__()
                with torch.no_grad():
                    self.blocks[{depth - 3}].up.weight.mul_(40.0)
    ''')
    path = tmp_path / f"stack_{depth}.py"
    path.write_text(src)
    rules = load_rules()
    spy = _Spy(monkeypatch)
    replayed = _lint(path, rules)
    assert spy.results == [True, True]
    with monkeypatch.context() as m:
        m.setattr(repeat, "MIN_DEPTH", 10**9)
        full = _lint(path, rules)
    assert spy.results == [True, True]
    assert replayed == full
    scaled = next(m for m in replayed if m["model"] == "Scaled")
    assert scaled["status"] == "ok"
    assert scaled["lipschitz_modules"][0]["module"] == f"blocks.{depth - 3}.up"
    assert f"blocks.{depth - 3}.up" in {f["module"] for f in scaled["findings"]}


def test_blocks_that_differ_are_traced_in_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scope = _module(tmp_path, 12, '''
        class Odd(Stack):
            def __init__(self) -> None:
                super().__init__()
                self.blocks[7] = Block(32, 7, eps=1e-3)  # one block built with another argument
    ''')
    torch.manual_seed(0)
    model = scope["Odd"]()
    assert repeat.stacks(model) == ()
    spy = _Spy(monkeypatch)
    replayed, full = _both(model, scope["example_inputs"](), monkeypatch)
    assert spy.results == []
    assert _rows(replayed) == _rows(full)


@pytest.mark.parametrize(("name", "replayed"), [
    ("Alternating", False),  # blocks treated differently by position: the replay check fails
    ("Indexed", False),  # indexes every block: the cut stack cannot run, the full one is traced
    ("DepthScaled", True),  # computes with len(): the cut stack still answers the real depth
])
def test_forwards_that_treat_blocks_differently(name: str, replayed: bool, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    scope = _module(tmp_path, 12, '''
        class Alternating(Stack):
            def forward(self, x):
                x = self.stem(x)
                for i, block in enumerate(self.blocks):
                    x = block(x) if i % 2 == 0 else torch.tanh(block(x))
                return self.head(x)

        class Indexed(Stack):
            def forward(self, x):
                x = self.stem(x)
                for i in range(len(self.blocks)):
                    x = self.blocks[i](x)
                return self.head(x)

        class DepthScaled(Stack):
            def forward(self, x):
                x = self.stem(x) / len(self.blocks)
                for block in self.blocks:
                    x = block(x)
                return self.head(x)
    ''')
    torch.manual_seed(0)
    model = scope[name]()
    spy = _Spy(monkeypatch)
    got, full = _both(model, scope["example_inputs"](), monkeypatch)
    assert spy.results == ([True] if replayed else [] if name == "Indexed" else [False])
    assert _rows(got) == _rows(full)


def test_shared_block_is_not_a_stack(tmp_path: Path) -> None:
    """One block object used at every depth has one set of weights: nothing to replay."""
    scope = _module(tmp_path, 12)
    model = scope["Stack"]()
    model.blocks = nn.ModuleList([model.blocks[0]] * 12)
    assert repeat.stacks(model) == ()


def test_transformers_llama_replays(monkeypatch: pytest.MonkeyPatch) -> None:
    transformers = pytest.importorskip("transformers")
    config = transformers.LlamaConfig(vocab_size=128, hidden_size=64, num_hidden_layers=8, num_attention_heads=4,
                                      num_key_value_heads=2, intermediate_size=128, max_position_embeddings=64)
    torch.manual_seed(0)
    model = transformers.LlamaModel(config)
    model.train()
    ids = torch.randint(0, 128, (2, 16), generator=torch.Generator().manual_seed(0))
    spy = _Spy(monkeypatch)
    replayed, full = _both(model, (ids,), monkeypatch)
    assert spy.results == [True]
    assert _rows(replayed) == _rows(full)


def test_transformers_gpt2_replays_through_the_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the lint (construction sites recorded, so a layer's line is where the user built the
    model), export's own splits of GPT-2's fused qkv keep their line: the replay must still hold, or
    the whole model is exported a second time."""
    pytest.importorskip("transformers")
    path = tmp_path / "gpt2_tiny.py"
    path.write_text(textwrap.dedent('''
        import torch
        from transformers import GPT2Config, GPT2LMHeadModel


        def build() -> torch.nn.Module:
            return GPT2LMHeadModel(GPT2Config(vocab_size=128, n_positions=32, n_embd=32, n_layer=7, n_head=2))


        def example_inputs():
            return (torch.randint(0, 128, (2, 16), generator=torch.Generator().manual_seed(0)),)

    '''))
    rules = load_rules()
    spy = _Spy(monkeypatch)
    replayed = _lint(path, rules)
    assert replayed[0]["status"] == "ok" and replayed[0]["tracer"] == "export", replayed
    assert spy.results == [True]
    with monkeypatch.context() as m:
        m.setattr(repeat, "MIN_DEPTH", 10**9)
        full = _lint(path, rules)
    assert replayed == full
