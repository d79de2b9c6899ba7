"""Per-op mean-field transfer rules (THEORY §3.2), one small function per op kind.

Each forward rule maps the input states to the output's ``(q, r)``; each backward rule maps the
output's gradient second moment ``g`` to one contribution per input. States are per-coordinate second
moments, so shapes enter only through fan sizes and element-count ratios.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

from modelcheck.ir import Graph, Node, Op
from modelcheck.numerics.gaussian import moments
from modelcheck.passes.facts import ZERO_INIT, SignalState, param_info
from modelcheck.passes.signal.functional import concentrated, glu_backward, glu_forward

State = SignalState | None
Fwd = Callable[[Graph, Node, Sequence[State]], "tuple[float, float] | None"]
Bwd = Callable[[Graph, Node, Sequence[State], SignalState, float], "list[float]"]

FORWARD: dict[Op, Fwd] = {}
BACKWARD: dict[Op, Bwd] = {}
# Gradient covariance between positions: by default each contribution keeps the output's gradient
# correlation; ops that mix or centre positions (attention, batch/instance norm) override it.
BACKWARD_R: dict[Op, Callable[[Graph, Node, Sequence[State], SignalState, list[float]], list[float]]] = {}


def forward(*ops: Op) -> Callable[[Fwd], Fwd]:
    def wrap(fn: Fwd) -> Fwd:
        for op in ops:
            FORWARD[op] = fn
        return fn

    return wrap


def backward(*ops: Op) -> Callable[[Bwd], Bwd]:
    def wrap(fn: Bwd) -> Bwd:
        for op in ops:
            BACKWARD[op] = fn
        return fn

    return wrap


# --- parameter statistics -------------------------------------------------------------------------


def param_moments(graph: Graph, name: str | None) -> tuple[float, float, int] | None:
    """(mean of squares, mean, numel) of a parameter, through the one accessor (:func:`param_info`). A
    zero-initialised head counts at its default init (the ``zero_init`` pass: "as if")."""
    zero = graph.facts.get(ZERO_INIT)
    stats = zero.as_if.get(name) if zero is not None and name else None
    if stats is not None:
        return float(stats.mean_sq), float(stats.mean), int(stats.numel)
    info = param_info(graph, name)
    return None if info is None else (info.mean_sq, info.mean, info.numel)


def _fro_sq(graph: Graph, node: Node, role: str = "weight") -> float | None:
    m = param_moments(graph, node.params.get(role))
    return None if m is None else m[0] * m[2]


def _bias_msq(graph: Graph, node: Node, role: str = "bias") -> float:
    m = param_moments(graph, node.params.get(role))
    return 0.0 if m is None else m[0]


def _shape(node: Node | None) -> tuple[int, ...]:
    return tuple(node.meta.shape) if node is not None and node.meta is not None else ()


def _numel(node: Node | None) -> int:
    """Element count of a node's output; 0 when unknown (tuple outputs, no shape information)."""
    if node is None or node.meta is None:
        return 0
    n = 1
    for s in node.meta.shape:
        n *= int(s)
    return n


def _first(states: Sequence[State]) -> SignalState | None:
    return next((s for s in states if s is not None), None)


# --- linear maps ----------------------------------------------------------------------------------


def _weight_shape(graph: Graph, node: Node, role: str = "weight") -> tuple[int, ...]:
    """The weight's shape in (out, in, ...) order; HF's Conv1D stores (in, out) ("in_out" layout)."""
    t = graph.param(node, role)
    if t is None:
        return ()
    shp = tuple(t.shape)
    return shp[::-1] if node.attrs.get("weight_layout") == "in_out" and len(shp) == 2 else shp


@forward(Op.LINEAR)
def _linear_f(graph: Graph, node: Node, ins: Sequence[State]) -> tuple[float, float] | None:
    x, fro, shp = ins[0], _fro_sq(graph, node), _weight_shape(graph, node)
    if x is None or fro is None or not shp:
        return None
    b = _bias_msq(graph, node)
    k = fro / shp[0]
    return k * x.q + b, k * x.r + b


@backward(Op.LINEAR)
def _linear_b(graph: Graph, node: Node, ins: Sequence[State], out: SignalState, g: float) -> list[float]:
    fro, shp = _fro_sq(graph, node), _weight_shape(graph, node)
    return [g * fro / shp[1] if fro is not None and len(shp) == 2 else g]


def _tuple(v: object, n: int) -> tuple[int, ...]:
    if isinstance(v, (list, tuple)):
        return tuple(int(i) for i in v) if len(v) == n else tuple(int(v[0]) for _ in range(n))
    return tuple(int(v) for _ in range(n)) if isinstance(v, (int, float)) else (0,) * n


def valid_tap_fraction(sizes: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                       padding: Sequence[int], dilation: Sequence[int], out_sizes: Sequence[int]) -> float:
    """Average fraction of kernel taps that land inside the (zero-padded) input, over output positions.

    For a transposed conv pass the conv it is the adjoint of (sizes = its output, out_sizes = its input).
    """
    frac = 1.0
    for n, k, s, p, d, m in zip(sizes, kernel, stride, padding, dilation, out_sizes):
        if k <= 1 and p == 0:
            continue
        inside = sum(1 for j in range(m) for t in range(k) if 0 <= j * s - p + t * d < n)
        frac *= inside / float(max(m * k, 1))
    return frac


def _conv_geometry(graph: Graph, node: Node) -> tuple[float, int, int, int, int] | None:
    """(valid-tap fraction, C_in, C_out, positions on the input side, on the output side)."""
    w = _weight_shape(graph, node)
    xs, ys = _shape(node.inputs[0] if node.inputs else None), _shape(node)
    if len(w) < 3 or len(xs) < len(w) - 1 or len(ys) < len(w) - 1:
        return None
    nd = len(w) - 2
    a = node.attrs
    transposed = bool(a.get("transposed"))
    stride, dil = _tuple(a.get("stride", 1), nd), _tuple(a.get("dilation", 1), nd)
    pad = a.get("padding", 0)
    if isinstance(pad, str):  # "same" / "valid"
        pad = [((k - 1) * d) // 2 for k, d in zip(w[2:], dil)] if pad == "same" else [0] * nd
    pad = _tuple(pad, nd)
    xsp, ysp = xs[-nd:], ys[-nd:]
    # A transposed conv is the adjoint of the conv from its output back to its input.
    src, dst = (ysp, xsp) if transposed else (xsp, ysp)
    frac = valid_tap_fraction(src, w[2:], stride, pad, dil, dst)
    c_in, c_out = xs[-nd - 1], ys[-nd - 1]
    return frac, c_in, c_out, math.prod(xsp), math.prod(ysp)


@forward(Op.CONV)
def _conv_f(graph: Graph, node: Node, ins: Sequence[State]) -> tuple[float, float] | None:
    x, fro, geo = ins[0], _fro_sq(graph, node), _conv_geometry(graph, node)
    if x is None or fro is None or geo is None:
        return None
    frac, c_in, c_out, n_in, n_out = geo
    b = _bias_msq(graph, node)
    # Energy conservation: every (output position, valid tap) pair carries one squared weight.
    k = fro * frac / c_out if not node.attrs.get("transposed") else fro * frac * n_in / (c_out * n_out)
    return k * x.q + b, k * x.r + b


@backward(Op.CONV)
def _conv_b(graph: Graph, node: Node, ins: Sequence[State], out: SignalState, g: float) -> list[float]:
    fro, geo = _fro_sq(graph, node), _conv_geometry(graph, node)
    if fro is None or geo is None:
        return [g]
    frac, c_in, c_out, n_in, n_out = geo
    if node.attrs.get("transposed"):
        return [g * fro * frac / c_in]
    return [g * fro * frac * n_out / (c_in * n_in)]


@forward(Op.EMBEDDING)
def _embedding_f(graph: Graph, node: Node, ins: Sequence[State]) -> tuple[float, float] | None:
    m = param_moments(graph, node.params.get("weight"))
    if m is None:
        return None
    c2 = float(node.attrs.get("scale", 1.0)) ** 2  # scaled embeddings (Gemma: ×sqrt(d))
    return c2 * m[0], c2 * m[1] ** 2


@backward(Op.EMBEDDING)
def _embedding_b(graph: Graph, node: Node, ins: Sequence[State], out: SignalState, g: float) -> list[float]:
    return [0.0 for _ in ins]  # integer ids carry no gradient


# --- elementwise ----------------------------------------------------------------------------------


@forward(Op.ACTIVATION)
def _act_f(graph: Graph, node: Node, ins: Sequence[State]) -> tuple[float, float] | None:
    x = ins[0]
    if x is None:
        return None
    if node.attrs.get("fn") == "glu":  # a·σ(b) over two independent halves
        return glu_forward(x)
    m = moments(str(node.attrs.get("fn", "")), x.q, x.r, node.attrs)
    if m is None:
        return x.q, x.r
    return m[0], m[2]


@backward(Op.ACTIVATION)
def _act_b(graph: Graph, node: Node, ins: Sequence[State], out: SignalState, g: float) -> list[float]:
    x = ins[0]
    if x is not None and node.attrs.get("fn") == "glu":
        return [glu_backward(x, g)]
    m = moments(str(node.attrs.get("fn", "")), x.q, x.r, node.attrs) if x is not None else None
    return [g * m[1] if m is not None else g]


@forward(Op.ADD, Op.SUB)
def _add_f(graph: Graph, node: Node, ins: Sequence[State]) -> tuple[float, float] | None:
    live = [s for s in ins if s is not None]
    if not live:
        return None
    c = node.attrs.get("scalar")
    c2 = float(c) ** 2 if isinstance(c, (int, float)) else 0.0
    alpha2 = float(node.attrs.get("alpha", 1.0)) ** 2
    if len(node.inputs) == 2 and node.inputs[0] is node.inputs[1] and live:
        f = (1 + math.sqrt(alpha2)) ** 2 if node.op is Op.ADD else 0.0  # x + x is coherent
        return f * live[0].q, f * live[0].r
    ws = [1.0] + [alpha2] * (len(ins) - 1)
    q = sum(w * s.q for w, s in zip(ws, ins) if s is not None) + c2
    r = sum(w * s.r for w, s in zip(ws, ins) if s is not None) + c2
    return q, r


@backward(Op.ADD, Op.SUB)
def _add_b(graph: Graph, node: Node, ins: Sequence[State], out: SignalState, g: float) -> list[float]:
    alpha2 = float(node.attrs.get("alpha", 1.0)) ** 2
    gs = [g] + [g * alpha2] * (len(ins) - 1)
    if len(node.inputs) == 2 and node.inputs[0] is node.inputs[1]:
        gs = [g * (1 + math.sqrt(alpha2)) ** 2 / 2] * 2  # both slots are the same tensor: split evenly
    return _broadcast_g(node, gs)


def _broadcast_g(node: Node, gs: list[float]) -> list[float]:
    """A broadcast operand (e.g. a (1, T, D) positional table) sums gradients over the copies."""
    n_out = _numel(node)
    out = []
    for i, gi in zip(node.inputs, gs):
        n_in = _numel(i)
        out.append(gi * n_out / n_in if n_in and n_out and n_in < n_out else gi)
    return out


@forward(Op.MUL)
def _mul_f(graph: Graph, node: Node, ins: Sequence[State]) -> tuple[float, float] | None:
    c = node.attrs.get("scalar")
    live = [s for s in ins if s is not None]
    if isinstance(c, (int, float)) and live:
        return c * c * live[0].q, c * c * live[0].r
    if not live:
        return None
    q, r = 1.0, 1.0
    for s in live:  # independent factors: second moments multiply
        q, r = q * s.q, r * s.r
    return q, r


@backward(Op.MUL)
def _mul_b(graph: Graph, node: Node, ins: Sequence[State], out: SignalState, g: float) -> list[float]:
    c = node.attrs.get("scalar")
    if isinstance(c, (int, float)):
        return [g * c * c for _ in ins]
    gs = []
    for i in range(len(ins)):
        other = 1.0
        for j, s in enumerate(ins):
            if j != i and s is not None:
                other *= s.q
        gs.append(g * other)
    return _broadcast_g(node, gs)


@forward(Op.DIV)
def _div_f(graph: Graph, node: Node, ins: Sequence[State]) -> tuple[float, float] | None:
    c = node.attrs.get("scalar")
    x = ins[0] if ins else None
    if x is None:
        return None
    if isinstance(c, (int, float)) and c != 0:
        return x.q / (c * c), x.r / (c * c)
    y = ins[1] if len(ins) > 1 else None
    if y is not None and concentrated(y):  # by a norm or an rms: the divisor is its common level
        return x.q / y.q, x.r / y.q
    return x.q, x.r  # division by a tensor of unknown sign and scale: pass through


@backward(Op.DIV)
def _div_b(graph: Graph, node: Node, ins: Sequence[State], out: SignalState, g: float) -> list[float]:
    c = node.attrs.get("scalar")
    f = 1.0 / (c * c) if isinstance(c, (int, float)) and c != 0 else 1.0
    y = ins[1] if len(ins) > 1 else None
    if not isinstance(c, (int, float)) and y is not None and concentrated(y):
        return [g / y.q, g * ins[0].q / (y.q * y.q) if ins[0] is not None else 0.0] + [0.0] * (len(ins) - 2)
    return [g * f] + [0.0] * (len(ins) - 1)
