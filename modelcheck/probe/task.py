"""The synthetic task the probe trains on, and the optimizer it trains with.

One documented choice: **MSE between the model output y and a fixed N(0, 1) tensor of y's shape**, on a
fixed batch generated from the example inputs (the corpus' "does it train" check does the same). It is
defined for every output (logits, hidden states, images), an over-parameterised model can fit it, and a
model whose output cannot move shows a flat loss. Inputs keep the example's shapes and dtypes:

- floating inputs: N(mean, std) of the example tensor;
- the first integer input: token ids, uniform in [0, V) with V the first ``nn.Embedding``'s
  ``num_embeddings`` (else the example's max + 1);
- other integer and bool inputs (masks, type ids, positions): the example's rows, tiled.

``batch_size`` replaces dim 0 of every input that has one. Everything random comes from one CPU generator
seeded with ``options.seed``, so the numbers do not depend on the device.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F

from modelcheck.errors import ForwardError
from modelcheck.probe.records import ProbeOptions


def output_tensor(out: Any) -> torch.Tensor:
    """SPEC §2's y: the output tensor, ``last_hidden_state``, or the first floating tensor of a structure."""
    if isinstance(out, torch.Tensor):
        return out
    lhs = getattr(out, "last_hidden_state", None)
    if isinstance(lhs, torch.Tensor):
        return lhs
    items: Iterable[Any] = out.values() if isinstance(out, dict) else out if isinstance(out, (list, tuple)) else ()
    for item in items:
        if isinstance(item, torch.Tensor) and item.is_floating_point():
            return item
    raise ForwardError(f"the model output ({type(out).__name__}) has no floating-point tensor to train on")


def first_float(out: Any) -> torch.Tensor | None:
    """The first floating tensor of a module output (tensor, tuple/list, dict, ModelOutput), or None."""
    if isinstance(out, torch.Tensor):
        return out if out.is_floating_point() else None
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        for item in out:
            if isinstance(item, torch.Tensor) and item.is_floating_point():
                return item
    return None


def vocab_size(model: nn.Module, inputs: tuple[Any, ...]) -> int:
    """Range of token ids: the first Embedding's ``num_embeddings``, else the example's max + 1."""
    for m in model.modules():
        if isinstance(m, (nn.Embedding, nn.EmbeddingBag)):
            return int(m.num_embeddings)
    ints = [t for t in inputs if isinstance(t, torch.Tensor) and not t.is_floating_point() and t.numel()]
    return int(max(int(t.max()) for t in ints)) + 1 if ints else 1


def _resize(t: torch.Tensor, batch: int | None) -> torch.Tensor:
    """The example's rows, tiled or truncated to ``batch`` along dim 0."""
    if batch is None or t.dim() == 0 or t.shape[0] == batch:
        return t
    index = torch.arange(batch) % max(int(t.shape[0]), 1)
    return t.index_select(0, index.to(t.device))


def synthetic_inputs(
    model: nn.Module, inputs: tuple[Any, ...], batch_size: int | None, generator: torch.Generator
) -> tuple[Any, ...]:
    """The probe's fixed batch (on CPU), per the module docstring."""
    out: list[Any] = []
    vocab: int | None = None
    ids_done = False
    for t in inputs:
        if not isinstance(t, torch.Tensor):
            out.append(t)
            continue
        t = t.detach().cpu()
        shape = tuple(t.shape) if (batch_size is None or t.dim() == 0) else (batch_size, *t.shape[1:])
        if t.is_floating_point():
            x = t.double()
            mean, std = (float(x.mean()), float(x.std())) if t.numel() > 1 else (float(x.sum()), 0.0)
            if std > 0:
                z = torch.randn(shape, generator=generator, dtype=torch.float64)
                out.append((z * std + mean).to(t.dtype))
            else:
                out.append(_resize(t, batch_size).clone())
        elif t.dtype is not torch.bool and not t.is_complex() and not ids_done:
            vocab = vocab_size(model, inputs) if vocab is None else vocab
            out.append(torch.randint(0, max(vocab, 1), shape, generator=generator, dtype=t.dtype))
            ids_done = True
        else:
            out.append(_resize(t, batch_size).clone())
    return tuple(out)


def to_device(inputs: tuple[Any, ...], device: torch.device) -> tuple[Any, ...]:
    """Move tensors to ``device``; on CUDA through pinned memory so the copy is asynchronous."""
    moved: list[Any] = []
    for t in inputs:
        if isinstance(t, torch.Tensor):
            if device.type == "cuda" and t.device.type == "cpu":
                t = t.pin_memory()
            t = t.to(device, non_blocking=True)
        moved.append(t)
    return tuple(moved)


@dataclass
class Task:
    """A fixed batch and a fixed target; ``loss(out)`` is MSE(y, target) in float32."""

    inputs: tuple[Any, ...]
    generator: torch.Generator
    device: torch.device
    target: torch.Tensor | None = field(default=None)

    def loss(self, out: Any) -> torch.Tensor:
        y = output_tensor(out)
        if self.target is None or self.target.shape != y.shape:
            # Drawn on first use (its shape is y's) from the CPU generator: device-independent numbers.
            target = torch.randn(tuple(y.shape), generator=self.generator, dtype=torch.float32)
            self.target = to_device((target,), self.device)[0]
        return F.mse_loss(y.float(), self.target)


def make_task(
    model: nn.Module, inputs: tuple[Any, ...], options: ProbeOptions, device: torch.device
) -> Task:
    generator = torch.Generator().manual_seed(options.seed)
    batch = synthetic_inputs(model, inputs, options.batch_size, generator)
    return Task(inputs=to_device(batch, device), generator=generator, device=device)


def make_optimizer(params: list[nn.Parameter], options: ProbeOptions) -> torch.optim.Optimizer:
    name = options.optimizer
    if name == "sgd":
        return torch.optim.SGD(params, lr=options.lr, momentum=options.momentum,
                               weight_decay=options.weight_decay)
    kind: Callable[..., torch.optim.Optimizer] = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
    wd = options.weight_decay if (name == "adam" or options.weight_decay) else 0.01
    return kind(params, lr=options.lr, betas=options.betas, eps=options.eps, weight_decay=wd)


def stability_constant(options: ProbeOptions) -> tuple[str, float]:
    """(kind, c) with the stability threshold c / lr (THEORY §6)."""
    if options.optimizer == "sgd":
        return "hessian", 2.0 + 2.0 * options.momentum
    b1 = options.betas[0]
    return "preconditioned", (2.0 + 2.0 * b1) / (1.0 - b1)
