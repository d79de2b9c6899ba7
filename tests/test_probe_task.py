"""The synthetic task: shapes, dtypes, id ranges, batch size, determinism, optimizers."""

from __future__ import annotations

from collections import namedtuple

import pytest
import torch
import torch.nn as nn

from modelcheck.errors import ForwardError, UsageError
from modelcheck.probe.records import ProbeOptions
from modelcheck.probe.task import (
    make_optimizer,
    make_task,
    output_tensor,
    stability_constant,
    synthetic_inputs,
)

CPU = torch.device("cpu")


class Tagger(nn.Module):
    def __init__(self, vocab: int = 37) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.emb(ids)) * mask.unsqueeze(-1)


def test_ids_stay_in_the_embedding_range_and_masks_are_tiled() -> None:
    model = Tagger(vocab=37)
    ids = torch.zeros(2, 50, dtype=torch.long)
    mask = torch.tensor([[1.0] * 50, [0.0] * 25 + [1.0] * 25]).bool()
    new_ids, new_mask = synthetic_inputs(model, (ids, mask), 5, torch.Generator().manual_seed(0))
    assert new_ids.shape == (5, 50) and new_ids.dtype == torch.long
    assert 0 <= int(new_ids.min()) and int(new_ids.max()) < 37
    assert int(new_ids.max()) > 20  # drawn over the whole vocabulary, not copied from the zeros
    assert new_mask.dtype == torch.bool
    assert torch.equal(new_mask[2], mask[0]) and torch.equal(new_mask[3], mask[1])


def test_ids_without_embedding_use_the_example_max() -> None:
    ids = torch.tensor([[0, 3, 9]])
    (new,) = synthetic_inputs(nn.Linear(3, 3), (ids,), 64, torch.Generator().manual_seed(0))
    assert int(new.max()) <= 9 and int(new.min()) >= 0


def test_float_inputs_follow_the_example_statistics() -> None:
    x = torch.randn(256, 32, dtype=torch.float64) * 3.0 + 5.0
    (new,) = synthetic_inputs(nn.Linear(32, 1), (x,), None, torch.Generator().manual_seed(1))
    assert new.shape == x.shape and new.dtype == torch.float64
    assert not torch.equal(new, x)
    assert abs(float(new.mean()) - float(x.mean())) < 0.2
    assert abs(float(new.std()) - float(x.std())) < 0.2


def test_same_seed_same_task() -> None:
    x = (torch.randn(4, 6),)
    model = nn.Linear(6, 2)
    a, b = (make_task(model, x, ProbeOptions(seed=3), CPU) for _ in range(2))
    c = make_task(model, x, ProbeOptions(seed=4), CPU)
    out = model(*a.inputs)
    assert torch.equal(a.inputs[0], b.inputs[0]) and not torch.equal(a.inputs[0], c.inputs[0])
    assert a.loss(out).item() == b.loss(out).item()
    assert torch.equal(a.target, b.target)


def test_loss_is_mse_to_a_fixed_target() -> None:
    task = make_task(nn.Identity(), (torch.randn(3, 4),), ProbeOptions(), CPU)
    y = torch.zeros(3, 4)
    first = task.loss(y)
    assert torch.allclose(first, task.target.pow(2).mean())
    assert torch.equal(task.loss(y), first)  # the target does not change between calls


def test_output_tensor_structures() -> None:
    t = torch.randn(2, 3)
    Out = namedtuple("Out", "ids logits")
    assert output_tensor(t) is t
    assert output_tensor((torch.zeros(2, dtype=torch.long), t)) is t
    assert output_tensor({"ids": torch.zeros(2, dtype=torch.long), "y": t}) is t

    class HF:
        last_hidden_state = t

    assert output_tensor(HF()) is t
    assert output_tensor(Out(torch.zeros(1, dtype=torch.long), t)) is t
    with pytest.raises(ForwardError):
        output_tensor((torch.zeros(2, dtype=torch.long),))


@pytest.mark.parametrize(("name", "cls"), [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW),
                                           ("sgd", torch.optim.SGD)])
def test_optimizers(name: str, cls: type) -> None:
    opt = make_optimizer(list(nn.Linear(2, 2).parameters()), ProbeOptions(optimizer=name, lr=0.05))
    assert type(opt) is cls and opt.param_groups[0]["lr"] == 0.05


def test_stability_constants() -> None:
    assert stability_constant(ProbeOptions(optimizer="sgd")) == ("hessian", 2.0)
    assert stability_constant(ProbeOptions(optimizer="sgd", momentum=0.9))[1] == pytest.approx(3.8)
    kind, c = stability_constant(ProbeOptions(optimizer="adam"))
    assert kind == "preconditioned" and c == pytest.approx(38.0)


@pytest.mark.parametrize("bad", [{"optimizer": "lion"}, {"steps": 0}, {"lr": -1.0}, {"batch_size": 0}])
def test_invalid_options(bad: dict) -> None:
    with pytest.raises(UsageError):
        ProbeOptions(**bad).validated()
