"""Example inputs (SPEC §1): method, module function, configured shapes, first-layer inference."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
import torch
from torch import nn

from modelcheck.config.settings import InputSpec
from modelcheck.errors import ForwardError, InputError
from modelcheck.load.inputs import describe, diagnose, resolve

ROOTS = (Path(__file__).parent.resolve(),)


def _module(**attrs: object) -> types.ModuleType:
    m = types.ModuleType("user_model")
    m.__dict__.update(attrs)
    return m


class WithMethod(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.l(x)

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.randn(3, 8),)


def test_order_method_then_module_function_then_shapes_then_inference() -> None:
    fn = _module(example_inputs=lambda: (torch.randn(5, 8),))
    shapes = (InputSpec((6, 8)),)

    r = resolve(WithMethod(), fn, "WithMethod", shapes, meta=False, roots=ROOTS)
    assert (r.source, describe(r.tensors)) == ("example_inputs() method", "(3, 8)")

    plain = nn.Sequential(nn.Linear(8, 4))
    r = resolve(plain, fn, "Net", shapes, meta=False, roots=ROOTS)
    assert (r.source, describe(r.tensors)) == ("example_inputs() in file", "(5, 8)")

    r = resolve(plain, _module(), "Net", shapes, meta=False, roots=ROOTS)
    assert r.source == "configured input shapes 6,8" and describe(r.tensors) == "(6, 8)"

    r = resolve(plain, _module(), "Net", (), meta=False, roots=ROOTS)
    assert r.source.startswith("inferred from first layer 0 (Linear(") and describe(r.tensors) == "(4, 8)"
    assert r.note is None


def test_a_single_tensor_or_list_is_accepted_and_other_values_are_an_input_error() -> None:
    plain = nn.Sequential(nn.Linear(8, 4))
    r = resolve(plain, _module(example_inputs=lambda: torch.randn(2, 8)), "N", (), meta=False, roots=ROOTS)
    assert describe(r.tensors) == "(2, 8)"
    with pytest.raises(InputError, match="returned dict"):
        resolve(plain, _module(example_inputs=lambda: {"x": 1}), "N", (), meta=False, roots=ROOTS)
    with pytest.raises(InputError, match=r"example_inputs\(\) in file raised RuntimeError: no data"):
        resolve(plain, _module(example_inputs=_raise), "N", (), meta=False, roots=ROOTS)


def _raise() -> None:
    raise RuntimeError("no data")


class Tokens(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(100, 16)
        self.head = nn.Linear(16, 4)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.emb(ids))


def test_configured_integer_shapes_draw_ids_below_the_vocabulary() -> None:
    r = resolve(Tokens(), _module(), "Tokens", (InputSpec((2, 7), "int64"),), meta=False, roots=ROOTS)
    (ids,) = r.tensors
    assert ids.dtype == torch.int64 and ids.shape == (2, 7) and int(ids.max()) < 100


class HeadFirst(nn.Module):
    """Registers its head before its body: the first guess (the head's shape) is wrong."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(32, 4)
        self.body = nn.Linear(12, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.GRU(10, 8, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0]


class Attn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(x, x, x)[0]


@pytest.mark.parametrize(
    ("model", "shape", "label"),
    [
        (nn.Sequential(nn.Flatten(), nn.Linear(12, 3)), "(4, 12)", "1 (Linear("),
        (nn.Sequential(nn.Conv1d(3, 4, 3)), "(4, 3, 32)", "0 (Conv1d("),
        (nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), "(4, 3, 32, 32)", "0 (Conv2d("),
        (nn.Sequential(nn.Conv3d(2, 2, 3)), "(4, 2, 32, 32, 32)", "0 (Conv3d("),
        (Tokens(), "int64 (4, 16)", "emb (Embedding(100, 16))"),
        (Recurrent(), "(4, 16, 10)", "rnn (GRU(10, 8, batch_first=True))"),
        (nn.LSTM(6, 8), "(16, 4, 6)", "(the model itself) (LSTM("),
        (Attn(), "(16, 4, 16)", "attn (MultiheadAttention("),
        (HeadFirst(), "(4, 12)", "body (Linear("),
    ],
)
def test_inference_from_the_first_layer_is_said_and_checked(model: nn.Module, shape: str, label: str) -> None:
    r = resolve(model, _module(), "M", (), meta=False, roots=ROOTS)
    assert describe(r.tensors) == shape
    assert r.source.startswith("inferred from first layer ")
    assert label in r.source and r.source.endswith(shape)


def test_embedding_ids_stay_in_range() -> None:
    (ids,) = resolve(Tokens(), _module(), "M", (), meta=False, roots=ROOTS).tensors
    assert 0 <= int(ids.min()) and int(ids.max()) < 100


class NoLayers(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


def test_no_inputs_found_is_a_note_not_an_error() -> None:
    r = resolve(NoLayers(), _module(), "NoLayers", (), meta=False, roots=ROOTS)
    assert r.tensors is None and r.source == "none"
    assert "no example inputs" in r.note and "--input-shape" in r.note


def test_meta_models_get_meta_inputs() -> None:
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(8, 4))
    r = resolve(model, _module(example_inputs=lambda: (torch.randn(2, 8),)), "M", (), meta=True, roots=ROOTS)
    assert r.tensors[0].is_meta and r.tensors[0].shape == (2, 8)


class Broken(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.l(x) + undefined_name  # noqa: F821


class Abstract(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


@pytest.mark.parametrize(
    ("model", "inputs", "error", "fragments"),
    [
        (
            nn.Sequential(nn.Linear(32, 4)),
            lambda: (torch.randn(8, 64),),
            InputError,
            ["forward failed with inputs of shape (8, 64)", "mat1 and mat2 shapes cannot be multiplied", "fix example_inputs()"],
        ),
        (Broken(), None, ForwardError, ["forward failed with inputs of shape (4, 8)", "test_loading_inputs.py:", "NameError", "check the forward"]),
        (Abstract(), None, ForwardError, ["NotImplementedError", "abstract base class"]),
    ],
)
def test_forward_failures(model: nn.Module, inputs: object, error: type, fragments: list[str]) -> None:
    module = _module(example_inputs=inputs) if inputs else _module()
    with pytest.raises(error) as info:
        found = resolve(model, module, "M", (), meta=False, roots=ROOTS)
        # given inputs are not run twice: the trace runs them, and only its failure calls diagnose
        assert inputs is not None and found.unchecked_hint is not None
        diagnose(model, found, ROOTS)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_the_checking_forward_leaves_batchnorm_statistics_untouched() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8))
    model.train()
    resolve(model, _module(), "M", (), meta=False, roots=ROOTS)
    assert torch.equal(model[1].running_mean, torch.zeros(8)) and int(model[1].num_batches_tracked) == 0
