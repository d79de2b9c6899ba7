"""An input whose dtype the model cannot take is an error naming the ``forward`` parameter and the layer
(given, configured and signature-planned inputs; built for real and on the meta device), never a silent
"Lipschitz bound 0"; planned inputs are redrawn in the dtype of the layer that takes them."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Callable

import pytest
import torch
from torch import nn

from modelcheck.config.settings import InputSpec
from modelcheck.load.dtypes import DtypeError
from modelcheck.load.inputs import describe, diagnose, resolve

ROOTS = (Path(__file__).parent.resolve(),)
REPO = Path(__file__).resolve().parents[1]


def _module(**attrs: object) -> types.ModuleType:
    m = types.ModuleType("user_model")
    m.__dict__.update(attrs)
    return m


def _build(cls: type[nn.Module], meta: bool) -> nn.Module:
    if not meta:
        return cls()
    with torch.device("meta"):
        return cls()


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


class Ids(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(100, 8)
        self.head = nn.Linear(8, 4)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.head(self.emb(idx))


class NetWithMethod(Net):
    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.randint(0, 10, (2, 16)),)


def _given(model: nn.Module, module: types.ModuleType, specs: tuple[InputSpec, ...], meta: bool) -> None:
    """What the engine does with given inputs: checked on meta at once, for real by the forward it runs."""
    found = resolve(model, module, type(model).__name__, specs, meta=meta, roots=ROOTS)
    diagnose(model, found, ROOTS)


CASES: list[tuple[type[nn.Module], Callable[[], object] | None, tuple[InputSpec, ...], str]] = [
    (NetWithMethod, None, (), "input `x` of `NetWithMethod.forward` is int64 (2, 16) but the first layer `fc` (Linear) takes float"),
    (Net, lambda: (torch.randint(0, 10, (3, 16)),), (), "input `x` of `Net.forward` is int64 (3, 16) but the first layer `fc` (Linear) takes float"),
    (Net, None, (InputSpec((5, 16), "int64"),), "input `x` of `Net.forward` is int64 (5, 16) but the first layer `fc` (Linear) takes float"),
    (Ids, lambda: (torch.randn(2, 7),), (), "input `idx` of `Ids.forward` is float32 (2, 7) but the first layer `emb` (Embedding) takes integer ids"),
    (Ids, None, (InputSpec((2, 7), "float32"),), "input `idx` of `Ids.forward` is float32 (2, 7) but the first layer `emb` (Embedding) takes integer ids"),
]


@pytest.mark.parametrize("meta", [False, True], ids=["built", "meta"])
@pytest.mark.parametrize(("cls", "fn", "specs", "expected"), CASES, ids=["method", "function", "config", "float-ids", "config-float-ids"])
def test_given_and_configured_inputs_of_the_wrong_dtype_name_the_parameter(
    cls: type[nn.Module], fn: Callable[[], object] | None, specs: tuple[InputSpec, ...], expected: str, meta: bool
) -> None:
    module = _module(example_inputs=fn) if fn is not None else _module()
    with pytest.raises(DtypeError) as info:
        _given(_build(cls, meta), module, specs, meta)
    assert info.value.message.startswith(expected)
    assert "test_loading_dtypes.py:" in info.value.message  # the forward line that feeds the layer
    assert info.value.code == "inputs" and info.value.hint  # an `inputs` error with the usual fix


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 4)
        self.emb = nn.Embedding(10, 4)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.fc(x.view(x.shape[0], -1)) + self.emb(labels)


def test_a_derived_tensor_is_traced_back_to_the_one_input_of_its_dtype() -> None:
    module = _module(example_inputs=lambda: (torch.randint(0, 10, (2, 4, 4)), torch.randint(0, 10, (2,)).float()))
    with pytest.raises(DtypeError) as info:  # the view is not the input tensor, but x is the only int input
        _given(TwoInputs(), module, (), meta=True)
    assert info.value.message.startswith("input `x` of `TwoInputs.forward` is int64 (2, 4, 4) but the first layer `fc`")


class ScaledBytes(nn.Module):
    """uint8 images, cast in forward: the first layer sees floats, so nothing is wrong."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.float() / 255)


class CastingLinear(nn.Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float())


@pytest.mark.parametrize("meta", [False, True], ids=["built", "meta"])
def test_inputs_the_model_casts_itself_are_accepted(meta: bool) -> None:
    images = _module(example_inputs=lambda: (torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8),))
    _given(_build(ScaledBytes, meta), images, (), meta)
    casting = nn.Sequential(CastingLinear(16, 4))
    _given(casting, _module(example_inputs=lambda: (torch.randint(0, 10, (2, 16)),)), (), meta=False)


class Diffusion(nn.Module):
    """Discrete timesteps: ``t`` goes into an Embedding, not a float sinusoid."""

    def __init__(self) -> None:
        super().__init__()
        self.t_emb = nn.Embedding(1000, 16)
        self.fc = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.fc(x) + self.t_emb(t)


@pytest.mark.parametrize("meta", [False, True], ids=["built", "meta"])
def test_planned_inputs_are_redrawn_in_the_dtype_of_their_first_layer(meta: bool) -> None:
    r = resolve(_build(Diffusion, meta), _module(), "Diffusion", (), meta=meta, roots=ROOTS)
    assert r.tensors is not None, r.note
    x, t = r.tensors
    assert x.is_floating_point() and not t.is_floating_point() and tuple(t.shape) == (4,)
    if not meta:
        assert 0 <= int(t.min()) and int(t.max()) < 1000  # ids below the embedding's rows
    assert r.source.startswith("from forward's signature: x (4, 16), t int64 (4,)"), r.source
    assert describe(r.tensors) == "(4, 16), int64 (4,)"


class FloatOnlyTokens(nn.Module):
    """``tokens`` by name, but the model projects it: the planned ids cannot be fed, and the note says which."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.fc = nn.Linear(3, 4)

    def forward(self, x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return self.emb(x) + self.fc(tokens)


def test_a_planned_input_that_cannot_be_redrawn_names_its_parameter_in_the_note() -> None:
    r = resolve(FloatOnlyTokens(), _module(), "FloatOnlyTokens", (), meta=False, roots=ROOTS)
    assert r.tensors is None and r.note is not None
    assert "of `FloatOnlyTokens.forward`" in r.note


def test_cli_on_meta_reports_the_parameter_not_a_zero_lipschitz_bound(tmp_path: Path) -> None:
    file = tmp_path / "ids_mlp.py"
    file.write_text(
        "import torch\nfrom torch import nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.a = nn.Linear(16, 4)\n\n    def forward(self, x):\n"
        "        return self.a(x)\n\n\ndef example_inputs():\n    return (torch.randint(0, 100, (4, 16)),)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "modelcheck", "lint", str(file), "--meta", "--no-cache", "--format", "json"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (model,) = json.loads(proc.stdout)["models"]
    assert model["status"] != "ok" and model["error"]["code"] == "inputs"
    assert "input `x` of `Net.forward` is int64 (4, 16) but the first layer `a` (Linear) takes float" in model["error"]["message"]


class MaskedAttention(nn.Module):
    """A bool mask passed positionally to MultiheadAttention is no input of the wrong dtype."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.attn(x, x, x, mask)[0]


class Bag(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bag = nn.EmbeddingBag(10, 4, mode="sum")

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return self.bag(ids, offsets, weights)


@pytest.mark.parametrize("meta", [False, True], ids=["built", "meta"])
def test_masks_offsets_and_per_sample_weights_are_not_checked_as_data(meta: bool) -> None:
    masked = _module(example_inputs=lambda: (torch.randn(2, 5, 8), torch.zeros(2, 5, dtype=torch.bool)))
    _given(_build(MaskedAttention, meta), masked, (), meta)
    bag = _module(example_inputs=lambda: (torch.tensor([1, 2, 3, 4]), torch.tensor([0, 2]), torch.rand(4)))
    _given(_build(Bag, meta), bag, (), meta)
