"""The ``lipschitz`` pass: certified per-op ℓ2 Lipschitz bounds and their AutoLip composition over the
DAG (THEORY §1; Virmaux & Scaman 2018).

Per node: ``node.facts["lipschitz"] = LipschitzFact`` (the op's own constant, and ``upto``, the bound from
the graph start to its output). Graph: ``graph.facts["lipschitz"] = LipschitzSummary``.

Composition: unary L_op·L(u); add Σ|a_i|L_i; concat √ΣL_i²; products and attention have no global
constant, so the bound stops there (``upper_bound=None`` with a ``reason``). The graph starts at float
inputs, or at the output of an embedding of integer inputs. Analysis is in eval mode (dropout off,
BatchNorm on running statistics, folded into the preceding conv/linear when nothing else reads it).

Cost: a dry run of the composition collects every spectral question, a
:class:`~modelcheck.numerics.certifier.Certifier` answers them in shape-grouped batches, then the real
run composes. Setting ``bounds`` ("fast" by default, "tight" with ``--bounds tight``) caps what a
conv's FFT and four-reshape bounds may cost; the reshape bound is always there.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from modelcheck import capture
from modelcheck.ir import Graph, Node, Op
from modelcheck.numerics import spectral
from modelcheck.passes import PassContext, register
from modelcheck.passes.facts import LIPSCHITZ, LipschitzFact, LipschitzSummary
from modelcheck.passes.lipschitz import ops

_DISCRETE = "discrete"  # an integer tensor derived from the inputs: fixed when we perturb floats
_WEIGHT_OPS = (Op.LINEAR, Op.CONV, Op.NORM, Op.MATMUL)


@register(LIPSCHITZ, requires=("init_stats",))
def run(graph: Graph, ctx: PassContext) -> None:
    model = ctx.model
    env = ops.Env(graph, model, bounds=ctx.bounds or "fast")
    if model is not None and ctx.inputs is not None and not ctx.meta and not _any_meta(model):
        taken = ctx.norm_rows  # by the input check's forward, when it ran in eval mode
        env.row_var = dict(taken) if taken is not None else _norm_row_variances(model, ctx.inputs, env)
    _find_fusions(graph, env)
    # a dry run collects every spectral question, answered in shape-grouped batches before the real one
    env.certifier.recording(True)
    compose(graph, env)
    env.certifier.recording(False)
    env.certifier.solve()
    try:
        graph.facts[LIPSCHITZ] = compose(graph, env)
    finally:
        spectral.clear_cache()


def _any_meta(model: Any) -> bool:
    return any(p.is_meta for p in model.parameters())


# --- example-input statistics for the local norm bounds -----------------------------------------------

def _norm_row_variances(model: Any, inputs: tuple, env: ops.Env) -> dict[str, float]:
    """The statistics of :func:`norm_rows_observation` from a run of their own, for when the input
    check's forward could not take them (it keeps BatchNorm in training mode)."""
    obs = norm_rows_observation(model)
    if obs is None:
        return {}
    try:
        return capture.on_inputs(model, inputs, obs.paths, obs.fn, training=False, combine=obs.combine)
    except Exception as exc:  # the model ran for the tracer; if it fails here, fall back to global bounds
        env.notes.append(f"norm statistics unavailable ({type(exc).__name__}: {exc}); using max|γ|/√ε")
        return {}


def norm_rows_observation(model: Any) -> capture.Observation | None:
    """The smallest row variance at the input of each norm module that needs one (eval BatchNorm
    divides by its running variance instead), as an observation for the forward that checks the
    example inputs. Norms called as functions are not observed: their bound stays global."""
    from modelcheck.layers import module_spec

    kinds: dict[str, str] = {}
    for path, mod in model.named_modules():
        if not path:
            continue
        op, attrs = module_spec(mod)
        kind = str(attrs.get("kind", ""))
        if op is Op.NORM and not (kind == "batch" and getattr(mod, "running_var", None) is not None):
            kinds[path] = kind
    if not kinds:
        return None

    def stat(path: str, mod: Any, args: tuple, kwargs: dict) -> float | None:
        x = args[0] if args else next(iter(kwargs.values()), None)
        return min_row_variance(kinds[path], mod, x) if isinstance(x, torch.Tensor) else None

    return capture.Observation(kinds, stat, min)


def min_row_variance(kind: str, mod: Any, x: torch.Tensor) -> float | None:
    """Smallest per-row variance (mean square for RMSNorm) of a norm's input, as its Jacobian sees it."""
    if not x.is_floating_point() or x.numel() == 0:
        return None
    x = x.detach().to(torch.float64)
    if kind in ("layer", "rms"):
        shape = getattr(mod, "normalized_shape", None)
        w = getattr(mod, "weight", None)
        nd = len(shape) if shape is not None else (w.dim() if isinstance(w, torch.Tensor) else 1)
        dims = tuple(range(-nd, 0))
        v = x.pow(2).mean(dims) if kind == "rms" else x.var(dims, unbiased=False)
    elif kind == "group" and x.dim() >= 2:
        v = x.reshape(x.shape[0], int(getattr(mod, "num_groups", 1)), -1).var(-1, unbiased=False)
    elif kind == "instance" and x.dim() >= 3:
        v = x.reshape(x.shape[0], x.shape[1], -1).var(-1, unbiased=False)
    elif kind == "batch" and x.dim() >= 2:
        v = x.transpose(0, 1).reshape(x.shape[1], -1).var(-1, unbiased=False)
    else:
        return None
    return float(v.min())


def _find_fusions(graph: Graph, env: ops.Env) -> None:
    """conv/linear -> eval BatchNorm with no other reader: bound the folded weight diag(s)·W instead."""
    for n in graph.of(Op.CONV, Op.LINEAR):
        if len(n.users) != 1 or bool(ops.attr(env, n, "transposed", default=False)):
            continue
        bn = n.users[0]
        if bn.op is not Op.NORM or bn.inputs != (n,) or ops.attr(env, bn, "kind") != "batch":
            continue
        rv, w = ops.tensor(env, bn, "running_var"), ops.tensor(env, n, "weight")
        if rv is None or w is None or rv.is_meta or w.is_meta or rv.numel() != w.shape[0]:
            continue
        eps = float(ops.attr(env, bn, "eps", default=1e-5))
        env.fused[n.name] = ops.bn_scale(ops.tensor(env, bn, "weight"), rv, eps)
        env.fused_into[bn.name] = n.label


# --- composition ------------------------------------------------------------------------------------

def compose(graph: Graph, env: ops.Env) -> LipschitzSummary:
    L: dict[str, Any] = {}  # node name -> float | None | _DISCRETE
    why: dict[str, tuple[int, int, str]] = {}  # node -> (rank, topological index of the cause, message)
    starts: list[str] = []
    per_module: dict[str, float] = {}
    local_notes: list[str] = []
    thresholds: list[str] = []  # integer/bool tensors computed from activations
    certified = True
    for index, node in enumerate(graph.nodes):
        if node.op is Op.INPUT:
            is_float = node.meta is None or node.meta.is_float
            L[node.name] = 1.0 if is_float else _DISCRETE
            if is_float:
                starts.append(node.name)
            continue
        if node.op in (Op.PARAM, Op.CONST):
            L[node.name] = 0.0
            continue
        ins = [L.get(i.name, 0.0) for i in node.inputs]
        if node.op is Op.OUTPUT:
            L[node.name] = ins[0] if ins else 0.0
            if node.inputs and node.inputs[0].name in why:
                why[node.name] = why[node.inputs[0].name]
            continue
        if node.op is Op.EMBEDDING:
            start = any(v == _DISCRETE for v in ins)
            L[node.name] = 1.0 if start else 0.0
            if start:
                starts.append(node.name)
            node.facts[LIPSCHITZ] = LipschitzFact(None, False, "start", L[node.name], True, _embedding_note(env, node))
            continue
        if ins and all(v == _DISCRETE for v in ins):
            L[node.name] = _DISCRETE  # integer bookkeeping (masks, positions) — fixed, not perturbed
            continue
        if node.meta is not None and not node.meta.is_float and node.op is not Op.OUTPUT:
            # a comparison / argmax of activations: piecewise constant, so treated as fixed (locally)
            if any(v not in (0.0, _DISCRETE) for v in ins):
                thresholds.append(node.label)
            L[node.name] = _DISCRETE
            continue
        vals = [0.0 if v == _DISCRETE else v for v in ins]
        var = [v is None or v > 0 for v in vals]
        if node.op in (Op.ADD, Op.SUB):
            f = ops.fact(1.0, "sum")
            coef = [1.0] * len(vals)
            if len(coef) > 1 and node.attrs.get("alpha") is not None:
                coef[1] = abs(float(node.attrs["alpha"]))
            up = None if any(v is None for v in vals) else sum(c * v for c, v in zip(coef, vals))
        elif node.op is Op.CONCAT:
            f = ops.fact(1.0, "concat")
            up = None if any(v is None for v in vals) else math.sqrt(sum(v * v for v in vals))
        else:
            if not any(var) and node.op not in _WEIGHT_OPS:
                L[node.name] = 0.0
                continue
            env.certifier.at(node.name)
            f = ops.OPS.get(node.op, ops.unknown)(env, node, var)
            live = [v for v, is_var in zip(vals, var) if is_var]
            if not live:
                up = 0.0
            elif f.bound is None or any(v is None for v in live):
                up = None
            else:
                up = f.bound * (live[0] if len(live) == 1 else math.sqrt(sum(v * v for v in live)))
        if up is None:  # report the earliest cause upstream, not whichever operand came first
            causes = [why[i.name] for i, v in zip(node.inputs, vals) if v is None and i.name in why]
            if f.bound is None and any(var):  # structural gaps (attention, products) outrank unknown ops
                causes.append((0 if f.method in (ops.NONE_ATTN, "product") else 1, index, _reason(node, f)))
            why[node.name] = min(causes) if causes else (2, index, "")
        L[node.name] = up
        node.facts[LIPSCHITZ] = f._replace(upto=up)
        if any(var) and up is not None:
            certified &= f.certified
            if f.local and f.bound is not None:
                local_notes.append(f.note)
        weight_op = node.op in (Op.LINEAR, Op.CONV, Op.NORM) or f.method == "gram"
        if node.module_path and f.bound is not None and weight_op \
                and node.name not in env.fused_into:
            per_module[node.module_path] = max(per_module.get(node.module_path, 0.0), f.bound)

    out = graph.output
    ub = L.get(out.name) if out is not None else None
    if ub == _DISCRETE:
        ub = 0.0
    notes = list(env.notes)
    if graph.training and any(n.op in (Op.DROPOUT, Op.NORM) for n in graph.nodes):
        notes.append("analysed in eval mode: dropout off, BatchNorm on its running statistics")
    if env.fused_into:
        notes.append(f"{len(env.fused_into)} BatchNorm layer(s) folded into the preceding conv/linear")
    reason = why.get(out.name, (0, 0, ""))[2] if out is not None and ub is None else None
    validity: tuple[str, ...] = ()
    if local_notes and ub is not None:
        validity += (f"{len(local_notes)} normalisation layer(s) use the local bound max|γ|/√(v+ε): valid for "
                     "inputs whose rows have at least 1/4 of the example input's smallest variance",)
    if thresholds and ub is not None:
        validity += (f"masks/indices computed from activations ({', '.join(thresholds[:3])}) are held fixed: "
                     "valid away from their thresholds",)
    return LipschitzSummary(
        upper_bound=ub, reason=reason or (None if ub is not None else "no global bound"),
        per_module=per_module, certified=certified, local=bool(validity),
        validity=validity, start=tuple(starts), notes=tuple(notes), mode="eval",
    )


def _reason(node: Node, f: LipschitzFact) -> str:
    where = node.label
    if f.method == ops.NONE_ATTN:
        return f"unbounded: dot-product attention at {where} has no global Lipschitz constant"
    if f.method == "product":
        what = f" ({node.target})" if node.target != where else ""
        return f"unbounded: the product of two activations at {where}{what} has no global Lipschitz constant"
    what = f.note if f.method == "unknown" and f.note else node.target
    return f"no Lipschitz bound for {what} at {where}"


def _embedding_note(env: ops.Env, node: Node) -> str:
    """THEORY §1.1: an embedding is not Lipschitz (integer input); its row norms say how far apart tokens sit."""
    note = "integer input: the Lipschitz graph starts at this output"
    w = ops.tensor(env, node, "weight")
    if w is None or w.is_meta or w.dim() != 2 or w.numel() == 0:
        return note
    rows = torch.linalg.vector_norm(w.detach().float(), dim=1)
    return f"{note}; row norms max {float(rows.max()):.3g}, median {float(rows.median()):.3g}"
