"""Helpers shared by the initialisation rules: parameter statistics, skip-free links between weight
ops, per-layer gains and the init call to recommend."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

from modelcheck.ir import Graph, Node, Op
from modelcheck.numerics import gains as initmath
from modelcheck.passes.facts import (
    INIT_STATS,
    SIGNAL,
    STRUCTURE,
    ResidualJoin,
    SignalState,
)

WEIGHT_OPS = (Op.LINEAR, Op.CONV)
# Ops that keep "the same signal" for init purposes: one tensor in, one out, no join, no normalisation.
TRANSPARENT = frozenset({Op.ACTIVATION, Op.RESHAPE, Op.IDENTITY, Op.DROPOUT, Op.PAD, Op.POOL, Op.UPSAMPLE})
RELU_FNS = frozenset({"relu", "relu6"})


def is_weight_op(node: Node) -> bool:
    """Linear, Conv, or a linear layer stored (in, out) such as transformers' GPT-2 ``Conv1D``."""
    if not node.params.get("weight"):
        return False
    return node.op in WEIGHT_OPS or (node.op is Op.OTHER and node.attrs.get("weight_layout") == "in_out")


class PView(NamedTuple):
    """A parameter's statistics at init (the init_stats pass's record, else the tensor)."""

    mean: float
    std: float
    mean_sq: float
    numel: int
    is_zero: bool
    is_constant: bool
    shape: tuple[int, ...]
    trainable: bool

    @property
    def rms(self) -> float:
        return math.sqrt(max(self.mean_sq, 0.0))

    @property
    def degenerate(self) -> bool:
        """Zero, or constant with more than one entry (one entry cannot be symmetric)."""
        return self.is_zero or (self.is_constant and self.numel > 1)


def pview(graph: Graph, name: str | None) -> PView | None:
    if not name:
        return None
    t = graph.tensor(name)
    shape = tuple(int(s) for s in t.shape) if t is not None else ()
    trainable = bool(getattr(t, "requires_grad", True)) if name in graph.parameters else False
    stats = (graph.facts.get(INIT_STATS) or {}).get(name)
    if stats is not None:
        shape = shape or tuple(getattr(stats, "shape", ()) or ())
        return PView(float(stats.mean), float(stats.std), float(stats.mean_sq), int(stats.numel),
                     bool(stats.is_zero), bool(stats.is_constant), shape, trainable)
    if t is None or t.is_meta or t.numel() == 0 or not t.is_floating_point():
        return None
    d = t.detach().double()
    first = d.reshape(-1)[0]
    const = bool((d == first).all())
    return PView(float(d.mean()), float(d.std()) if d.numel() > 1 else 0.0, float(d.pow(2).mean()),
                 int(d.numel()), const and float(first) == 0.0, const, shape, trainable)


def scalar(node: Node) -> float | None:
    """c when ``node`` is ``c * x`` or ``x / c`` for a Python number c and one tensor operand."""
    c = node.attrs.get("scalar")
    if node.op not in (Op.MUL, Op.DIV) or len(node.inputs) != 1 or isinstance(c, bool):
        return None
    if not isinstance(c, (int, float)):
        return None
    return float(c) if node.op is Op.MUL else (1.0 / c if c else math.inf)


class Step(NamedTuple):
    """What follows a weight op along its single-consumer path (see :func:`walk`)."""

    path: tuple[Node, ...]  # the transparent nodes after the op, in order
    act: Node | None  # the first activation on the path
    terminal: Node | None  # the first node that is not transparent; None at a fan-out or a dead end
    scale: float  # product of constant scalars on the path


def walk(node: Node, through: frozenset[Op] = TRANSPARENT) -> Step:
    """Follow ``node``'s output while each node has exactly one consumer and it is transparent."""
    path: list[Node] = []
    act: Node | None = None
    scale = 1.0
    cur = node
    while len(cur.users) == 1:
        nxt = cur.users[0]
        c = scalar(nxt)
        if nxt.op not in through and c is None:
            return Step(tuple(path), act, nxt, scale)
        if c is not None:
            scale *= c
        if nxt.op is Op.ACTIVATION and act is None:
            act = nxt
        path.append(nxt)
        cur = nxt
    return Step(tuple(path), act, None, scale)


def feeds(step: Step, node: Node, target: Node) -> bool:
    """The walk ended at ``target`` entering through its data input (not a side operand)."""
    end = step.path[-1] if step.path else node
    return step.terminal is target and bool(target.inputs) and target.inputs[0] is end


def reaches_output(step: Step) -> bool:
    """The walk ends at the model output, possibly through a softmax or a reduction (a head)."""
    t = step.terminal
    while t is not None and t.op in (Op.SOFTMAX, Op.REDUCE):
        t = walk(t).terminal
    return t is not None and t.op is Op.OUTPUT


def is_gate(node: Node) -> bool:
    """A two-tensor product (ReZero/LayerScale gate, GLU, modulation)."""
    return node.op is Op.MUL and scalar(node) is None and len(node.inputs) >= 2


def is_join(node: Node) -> bool:
    return node.op in (Op.ADD, Op.SUB) and len(node.inputs) >= 2 and node.inputs[0] is not node.inputs[1]


def branch_tails(graph: Graph) -> set[str]:
    """Names of weight ops the structure pass found nearest a residual join (Fixup's zero layer)."""
    out: set[str] = set()
    for n in graph.nodes:
        fact = n.facts.get(STRUCTURE)
        if isinstance(fact, ResidualJoin):
            out.update(fact.last_weight_ops)
    return out


def signal(node: Node | None) -> SignalState | None:
    s = node.facts.get(SIGNAL) if node is not None else None
    if not isinstance(s, SignalState) or not all(math.isfinite(v) for v in (s.q, s.r, s.g)):
        return None
    return s


def act_of(step: Step) -> tuple[str | None, Mapping[str, object]]:
    if step.act is None:
        return None, {}
    return str(step.act.attrs.get("fn", "")) or None, step.act.attrs


def weight_fans(graph: Graph, node: Node, view: PView) -> initmath.Fans | None:
    shape = view.shape
    if len(shape) < 2:
        return None
    a = node.attrs
    if a.get("weight_layout") == "in_out":
        shape = (shape[1], shape[0]) + tuple(shape[2:])
    return initmath.fans(shape, transposed=bool(a.get("transposed")), groups=int(a.get("groups", 1) or 1),
                         stride=a.get("stride"))


def fmt(v: float) -> str:
    if v == 0 or not math.isfinite(v):
        return str(v)
    return f"{v:.2g}" if 1e-2 <= abs(v) < 1e4 else f"{v:.1e}"


def fmt_std(v: float) -> str:
    return f"{v:.3g}"


_NAMES = {"relu": "ReLU", "relu6": "ReLU6", "leaky_relu": "LeakyReLU", "gelu": "GELU", "gelu_tanh": "GELU",
          "silu": "SiLU", "tanh": "tanh", "sigmoid": "sigmoid", "selu": "SELU", "elu": "ELU", "mish": "Mish",
          "softplus": "Softplus", "hardswish": "Hardswish", None: "a linear output"}


def act_name(fn: str | None) -> str:
    return _NAMES.get(fn, str(fn))


def init_call(fn: str | None, attrs: Mapping[str, object], *, too_big: bool, transposed: bool = False,
              q: float = 1.0) -> str:
    """The ``nn.init`` call that gives a layer feeding ``fn`` a variance-preserving scale."""
    mode = ", mode='fan_out'" if transposed else ""  # torch's fan_in is the wrong axis for ConvTranspose
    if fn in RELU_FNS:
        return f"nn.init.kaiming_normal_(w{mode}, nonlinearity='relu')"
    if fn in ("leaky_relu", "prelu", "rrelu"):
        a = float(attrs.get("negative_slope", 0.01 if fn == "leaky_relu" else 0.25))  # type: ignore[arg-type]
        return f"nn.init.kaiming_normal_(w{mode}, a={a:g}, nonlinearity='leaky_relu')"
    if fn == "tanh":
        if too_big:
            return ("nn.init.xavier_normal_(w, gain=1.0) with zero biases (gain 5/3 is chaotic in deep tanh "
                    "stacks: χ = 1.21 per layer; σ_w = 1 is the edge of chaos)")
        return "nn.init.xavier_normal_(w, gain=5/3) (or kaiming_normal_(w, nonlinearity='tanh'))"
    if fn == "selu":
        return f"std=1/sqrt(fan_in) (LeCun) for SELU: nn.init.kaiming_normal_(w{mode}, nonlinearity='linear')"
    if initmath.is_linear(fn):
        return f"std=1/sqrt(fan_in) (LeCun): nn.init.kaiming_normal_(w{mode}, nonlinearity='linear')"
    g = initmath.ideal_gain(fn, attrs, q)
    return f"nn.init.normal_(w, std={g:.2f}/math.sqrt(fan_in)) ({act_name(fn)}'s variance-preserving gain)"
