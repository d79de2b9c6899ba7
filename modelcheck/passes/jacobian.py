"""The ``jacobian`` pass: local Jacobian norms at the example input (THEORY §2), for R6.

Per weight-bearing leaf module (LINEAR, CONV, NORM, module ATTENTION, RECURRENT): ‖J(x)‖₂ on the input
it received at the example input (``node.facts["jacobian"]`` on its first node), and for the whole
model from x to y as SPEC §2 defines them (x: the first float input, or the first embedding's output
for token ids), with κ(x) = ‖J(x)‖·rms(x)/rms(f(x)). Stored in ``graph.facts["jacobian"]``.

Needs the live model (``ctx.model``) and real inputs; skipped on meta. Runs in eval mode unless
``ctx.jacobian.mode == "train"`` (then by double-VJP, buffers restored afterwards).
Options (``ctx.jacobian``, :class:`~modelcheck.passes.JacobianOptions`): ``max_iters`` (30), ``tol``
(1e-4), ``budget_s`` (2: the whole model may use 60%, the modules the rest), ``max_modules`` (256).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import torch
from torch import nn

from modelcheck import capture
from modelcheck.ir import Graph, Node, Op
from modelcheck.numerics.jacobian_norm import jacobian_norm
from modelcheck.numerics.threads import threads_for
from modelcheck.passes import PassContext, register
from modelcheck.passes.facts import JACOBIAN, JacobianFact, JacobianSummary

_MODULE_OPS = (Op.LINEAR, Op.CONV, Op.NORM, Op.ATTENTION, Op.RECURRENT)


@register(JACOBIAN)
def run(graph: Graph, ctx: PassContext) -> None:
    model = ctx.model
    why = _unavailable(model, ctx)
    if why:
        ctx.skipped[JACOBIAN] = why
        return
    s = ctx.jacobian
    training = s.mode == "train"
    opts = dict(max_iters=int(s.max_iters), tol=float(s.tol), functional=not training)
    budget = float(s.budget_s)  # a linter: seconds, not minutes
    notes: list[str] = []
    inputs = tuple(ctx.inputs or ())

    # the whole model first: κ is what R6 judges; the modules only name the culprit
    t_end = time.perf_counter() + budget
    whole, x_desc = None, "no float input"
    try:
        f, x, x_desc = _model_fn(graph, model, inputs, training)
        if f is not None:
            with capture.mode(model, training), threads_for(_work(model, x)):
                r = jacobian_norm(f, x, deadline=time.perf_counter() + 0.6 * budget, **opts)
            whole = JacobianFact(*r)
            if not r.converged:
                notes.append(f"whole-model power iteration stopped after {r.iters} iterations without converging")
    except Exception as exc:
        notes.append(f"whole-model local norm failed: {exc}")

    firsts = _module_nodes(graph, model, int(s.max_modules), notes)
    per_module: dict[str, JacobianFact] = {}
    captured = capture.on_inputs(model, inputs, firsts, _snapshot, training=training) if firsts else {}
    with capture.mode(model, training):
        for path, node in firsts.items():
            got = captured.get(path)
            if got is None:
                continue
            if time.perf_counter() > t_end:
                notes.append(f"time budget reached after {len(per_module)} of {len(firsts)} modules")
                break
            f, x = _module_fn(model.get_submodule(path), *got)
            if f is None:
                continue
            try:
                with threads_for(_work(model.get_submodule(path), x)):
                    r = jacobian_norm(f, x, deadline=t_end, **opts)
            except Exception as exc:
                notes.append(f"{path}: {exc}")
                continue
            per_module[path] = JacobianFact(*r)
            node.facts[JACOBIAN] = per_module[path]

    graph.facts[JACOBIAN] = JacobianSummary(whole, x_desc, per_module, "train" if training else "eval", tuple(notes))


def _work(mod: nn.Module, x: torch.Tensor) -> float:
    """Rough flops of one forward pass: parameters × batch rows (for the thread choice only)."""
    rows = x.numel() / max(x.shape[-1], 1) if x.dim() else 1
    return float(sum(p.numel() for p in mod.parameters())) * rows * 2


def _unavailable(model: Any, ctx: PassContext) -> str | None:
    if ctx.meta:
        return "model built on the meta device (no weights to differentiate)"
    if not isinstance(model, nn.Module):
        return "no live model in the pass context"
    if not ctx.inputs:
        return "no example inputs"
    if any(p.is_meta for p in model.parameters()):
        return "model has meta parameters"
    if any(isinstance(t, torch.Tensor) and t.is_meta for t in ctx.inputs):
        return "example inputs are on the meta device"
    return None


def _module_nodes(graph: Graph, model: nn.Module, cap: int, notes: list[str]) -> dict[str, Node]:
    firsts: dict[str, Node] = {}
    for n in graph.nodes:
        conv1d = n.op is Op.OTHER and n.attrs.get("note") == "Conv1D"  # Hugging Face's Linear
        if (n.op not in _MODULE_OPS and not conv1d) or not n.module_path or n.module_path in firsts:
            continue
        if n.op is Op.ATTENTION and not n.module_type:
            continue  # functional SDPA: part of its module's forward, not a module of its own
        try:
            mod = model.get_submodule(n.module_path)
        except AttributeError:
            continue
        if next(mod.parameters(recurse=True), None) is None:
            continue
        firsts[n.module_path] = n
    if len(firsts) > cap:
        notes.append(f"local norms computed for the first {cap} of {len(firsts)} weight modules")
        firsts = dict(list(firsts.items())[:cap])
    return firsts


def _clone(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        return v.detach().clone()
    if isinstance(v, (tuple, list)):
        return type(v)(_clone(i) for i in v)
    return v


def _snapshot(path: str, mod: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    # clone: an in-place op later in forward (ReLU(inplace=True)) must not change what we stored
    return _clone(args), {k: _clone(v) for k, v in kwargs.items()}


def _module_fn(mod: nn.Module, args: tuple, kwargs: dict) -> tuple[Callable | None, torch.Tensor | None]:
    """f(x) = the module's primary output with every occurrence of its first float input replaced by x."""
    x0 = next((a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor) and a.is_floating_point()), None)
    if x0 is None:
        return None, None

    def f(x: torch.Tensor) -> torch.Tensor:
        a = tuple(x if v is x0 else v for v in args)
        k = {n: (x if v is x0 else v) for n, v in kwargs.items()}
        y = capture.first_float(mod(*a, **k))
        if y is None:
            raise TypeError("module returned no float tensor")
        return y

    return f, x0


def _model_fn(graph: Graph, model: nn.Module, inputs: tuple, training: bool
              ) -> tuple[Callable | None, torch.Tensor | None, str]:
    for i, t in enumerate(inputs):
        if isinstance(t, torch.Tensor) and t.is_floating_point():
            def f(x: torch.Tensor, _i: int = i) -> torch.Tensor:
                y = capture.first_float(capture.call(model, inputs[:_i] + (x,) + inputs[_i + 1:]))
                if y is None:
                    raise TypeError("model returned no float tensor")
                return y

            name = graph.inputs[i].name if i < len(graph.inputs) else str(i)
            return f, t, f"input '{name}'"
    emb = next((n for n in graph.of(Op.EMBEDDING) if n.module_path and _from_input(n)), None)
    if emb is None:
        return None, None, "no float input and no embedding of an input"
    mod = model.get_submodule(emb.module_path)
    store: dict[str, Any] = {}
    h0 = mod.register_forward_hook(lambda m, a, out: store.setdefault("e", _clone(out)))
    try:
        with capture.mode(model, training), torch.no_grad():
            capture.call(model, inputs)
    finally:
        h0.remove()
    x0 = store.get("e")
    if not isinstance(x0, torch.Tensor):
        return None, None, "embedding output not captured"

    def g(x: torch.Tensor) -> torch.Tensor:
        h = mod.register_forward_hook(lambda m, a, out: x)
        try:
            y = capture.first_float(capture.call(model, inputs))
        finally:
            h.remove()
        if y is None:
            raise TypeError("model returned no float tensor")
        return y

    return g, x0, f"output of embedding '{emb.module_path}'"


def _from_input(node: Node) -> bool:
    """Whether an input (token ids, possibly reshaped) feeds this node."""
    seen: set[str] = set()
    stack = list(node.inputs)
    while stack:
        n = stack.pop()
        if n.op is Op.INPUT:
            return True
        if n.name not in seen:
            seen.add(n.name)
            stack.extend(n.inputs)
    return False
