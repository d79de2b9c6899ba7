"""Typed results that passes store on nodes (``node.facts[KEY]``) and on the graph
(``graph.facts[KEY]``). Rules import these types; passes fill them in.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from modelcheck.ir import Graph, Node, Op

SIGNAL = "signal"


class SignalState(NamedTuple):
    """Predicted mean-field statistics of a node's (primary) output at initialization.

    q  per-coordinate second moment E[h^2] of the output (includes the mean)
    r  covariance between two distinct positions (samples, tokens, pixels), mean included;
       r/q is the correlation that attention and pooling care about
    g  per-coordinate second moment of dL/dh for L = sum(y * u), u ~ N(0, 1) at the model output
    gr covariance of dL/dh between distinct positions (attention averages it in, like r)
    """

    q: float
    r: float
    g: float
    gr: float = 0.0

    @property
    def rms(self) -> float:
        return self.q**0.5

    @property
    def grad_rms(self) -> float:
        return self.g**0.5

    @property
    def corr(self) -> float:
        return self.r / self.q if self.q > 0 else 0.0


class SignalSummary(NamedTuple):
    """Graph-level result of the signal pass (SPEC §2 numbers and what they were measured between)."""

    forward_gain: float | None
    backward_gain: float | None
    x_node: str | None  # the node whose output is the network input x (input, or first embedding)
    y_node: str | None  # the node whose output is y
    notes: tuple[str, ...] = ()

# --- depth (lead) ---
DEPTH = "depth"


class DepthStep(NamedTuple):
    """One block boundary on the path from x to y, bottom to top."""

    node: str  # node name
    label: str  # module path or node name
    g_rel: float  # scale-free relative gradient G_rel (THEORY §3.3) w.r.t. the top boundary
    log_step: float  # log10 of this boundary's G_rel over the next one up (its own contribution)


class DepthFact(NamedTuple):
    """Result of the depth pass: D = max_l |log10 G_rel(l)| and where it comes from."""

    d: float
    direction: str  # "vanishing" (lower layers get relatively less gradient) or "explosion"
    worst: str  # node name of the boundary with the extreme G_rel
    steps: tuple[DepthStep, ...]
    bn_in_residual: bool  # train-mode BatchNorm inside residual branches (THEORY R5 downgrade)
    final_norm: bool  # a normalisation sits between the last weight op and y

# --- structure ---
STRUCTURE = "structure"


class ResidualJoin(NamedTuple):
    """``node.facts["structure"]`` on an ADD/SUB node that joins a skip (trunk) and a branch.

    Weight ops are LINEAR, CONV, RECURRENT, weight MATMULs, and attention (MultiheadAttention = 2).
    ``scaling`` lists the residual-scaling patterns found (THEORY R2):
      "gate"       branch x Parameter with init <= 0.1 (ReZero, SkipInit, LayerScale)
      "zero-last"  last weight op of the branch zero-initialised (Fixup, zero_init_residual)
      "small-last" last branch weight std <= (1/sqrt(fan_in))/sqrt(N) (GPT-2's 0.02/sqrt(2N))
      "scaled"     skip x alpha > 1 or branch x beta <= 0.5 constant (DeepNorm, NF-ResNet)
    """

    fork: str  # node whose output feeds both the skip and the branch
    skip: str  # operand on the skip side
    branch: str  # operand on the branch side
    skip_weight_ops: int  # weight ops on the shortest fork -> skip path (0 = identity skip)
    branch_depth: int  # weight ops on the shortest fork -> branch path
    branch_weight_ops: tuple[str, ...]  # every weight op inside the branch, topological order
    last_weight_ops: tuple[str, ...]  # the branch's weight ops nearest the join
    branch_norms: tuple[str, ...]  # NORM nodes inside the branch
    branch_has_attention: bool  # ATTENTION or a softmax score path inside the branch
    skip_scale: float  # product of constant scalars on the skip path (1.0 = none)
    branch_scale: float  # product of constant scalars at the branch tail (1.0 = none)
    gate_init: float | None  # max |init| of a Parameter multiplying the branch tail, if any
    last_gain: float | None  # max std(W)*sqrt(fan_in) over last_weight_ops (None: unknown)
    scaling: tuple[str, ...]  # patterns, see above
    post_norm: str | None  # NORM (layer/rms) applied to the join output (post-LN), if any
    stack: int  # index into StructureSummary.stacks
    position: int  # 0-based position in that stack


class ResidualStack(NamedTuple):
    """A sequence of residual joins along one stream (a trunk), topological order."""

    joins: tuple[str, ...]
    post_norm_joins: tuple[str, ...]  # joins whose output goes straight into a layer/rms norm
    blocks: int  # Transformer layers: FFN (non-attention) joins among post-norm joins, else joins
    attention_joins: int  # joins whose branch holds attention
    post_ln: bool  # most joins are post-norm (the original Transformer / BERT layout)
    deepnorm: bool  # post-norm joins scale the skip by a constant alpha > 1 (DeepNorm, Admin)


class PlainChain(NamedTuple):
    """The shortest input->output path through a weight op, when no skip shortens it.

    ``depth`` is that path's length in weight ops: every weight op on it has no way around the others.
    """

    weight_ops: tuple[str, ...]  # input -> output order
    depth: int  # weight ops (MultiheadAttention counts 2)
    activations: tuple[str, ...]  # canonical fns of the activations on the path
    norms: int  # NORM nodes on the path
    isometric: bool  # dynamical-isometry init: (delta-)orthogonal weights with tanh/linear only
    isometry_checked: bool  # weights were available to check


class ScoreSite(NamedTuple):
    """An attention score computation: softmax(scale * q k^T)."""

    node: str  # the score MATMUL, or the ATTENTION node
    kind: str  # "matmul" | "sdpa" | "mha"
    softmax: str | None
    query: str | None  # operand nodes whose signal facts give q_q, q_k (scale before the matmul included)
    key: str | None
    d_k: int | None
    pre_scale: float  # constant scalars on the q/k paths before the matmul (already in their q)
    post_scale: float  # constant scalars between the score matmul and the softmax (sdpa: its scale)
    explicit: bool  # a constant scale was found (or the SDPA / MultiheadAttention default applies)
    query_proj: str | None  # LINEAR producing the query, if found (for estimates without signal)
    key_proj: str | None


class SaturatingChain(NamedTuple):
    """Consecutive saturating activations (sigmoid/tanh/hardtanh/softsign) on one plain path."""

    activations: tuple[str, ...]  # node names, input -> output
    fns: tuple[str, ...]
    weight_ops: tuple[str, ...]  # weight ops feeding each activation
    start: str  # node whose output enters the chain (input of the first weight op)
    end: str  # the last activation


class StructureSummary(NamedTuple):
    """``graph.facts["structure"]``: what the structure pass found, for rules to judge."""

    weight_ops: int  # total, MultiheadAttention counting 2
    joins: tuple[str, ...]  # residual join node names, topological
    stacks: tuple[ResidualStack, ...]
    trunk: int  # index of the longest stack, -1 when there is none
    plain_chains: tuple[PlainChain, ...]  # deepest first (only chains of depth >= 4)
    max_plain_depth: int  # max over weight ops of the shortest input->output path through them
    shortest_path: int | None  # weight ops on the shortest input -> output path
    longest_path: int | None  # weight ops on the longest input -> output path
    score_sites: tuple[ScoreSite, ...]
    saturating_chains: tuple[SaturatingChain, ...]
    norms: tuple[str, ...]  # NORM node names
    norm_kinds: tuple[str, ...]  # distinct NORM kinds present

# --- lipschitz / jacobian / init_stats ---
INIT_STATS = "init_stats"
INIT_GAINS = "init_gains"
LIPSCHITZ = "lipschitz"
JACOBIAN = "jacobian"


class ParamStats(NamedTuple):
    """``graph.facts["init_stats"][qualname]``: a parameter's (or buffer's) entry statistics at init.

    source: "tensor" (computed from the data), "init-record" (what was applied while the model was
    built, e.g. on meta; see ``modelcheck.load.initrecord``) or "default" (PyTorch's default init for the owning
    module type, THEORY §4.1). Parameters with none of the three are left out of the mapping.
    ``absmax`` is exact for tensors and an estimate otherwise (bounds of a uniform, ~mean + std·√(2 ln n)).
    """

    mean: float
    std: float
    mean_sq: float  # E[w²] = mean² + std²
    fro_sq: float  # Σ w² = numel · mean_sq
    numel: int
    is_zero: bool
    is_constant: bool
    source: str
    kind: str = ""  # distribution: normal, uniform, trunc_normal, constant, orthogonal, mixture, data
    shape: tuple[int, ...] = ()
    absmax: float = float("nan")
    gain: float | None = None  # orthogonal init: σ_max = |gain| exactly


class LipschitzFact(NamedTuple):
    """``node.facts["lipschitz"]``: a bound on this op as a map of its variable input(s) (ℓ2).

    bound      per-op constant; None when no global constant exists (products, attention, unknown ops)
    local      True when the value holds only near the example input (LayerNorm with v ≥ v_floor, ...)
    method     how it was computed: "gram" (the Gram matrix's λ_max, proved by Cholesky:
               modelcheck.numerics.certify), "conv:fft", "conv:reshape", "conv:fantastic4", "bn-eval",
               "norm-local", "norm-global", "const", "estimate:bai-yin", ...
    upto       AutoLip bound from the graph start (float input, or embedding output) to this output
    certified  False for analytic estimates (meta device: no weights)
    """

    bound: float | None
    local: bool
    method: str
    upto: float | None = None
    certified: bool = True
    note: str = ""


class LipschitzSummary(NamedTuple):
    """``graph.facts["lipschitz"]``: the composed AutoLip upper bound (THEORY §1.3).

    ``upper_bound`` is None when no global bound exists (``reason`` says where it breaks: attention,
    a product of activations, an unknown op). ``validity`` lists the conditions a local per-op bound
    assumed (e.g. LayerNorm row variance ≥ v_floor). ``per_module`` maps leaf module paths to their
    per-op bound (weight-bearing and norm modules) for the report.
    """

    upper_bound: float | None
    reason: str | None
    per_module: dict[str, float]
    certified: bool
    local: bool
    validity: tuple[str, ...] = ()
    start: tuple[str, ...] = ()  # node names where the Lipschitz graph starts
    notes: tuple[str, ...] = ()
    mode: str = "eval"

    @property
    def log10(self) -> float | None:
        """log₁₀ of the bound (THEORY R6 reports this as info), None when there is none."""
        from math import inf, isfinite, log10

        ub = self.upper_bound
        if ub is None or ub <= 0:
            return None
        return log10(ub) if isfinite(ub) else inf


class JacobianFact(NamedTuple):
    """Local Jacobian spectral norm ‖J(x)‖₂ at the example input, by power iteration (THEORY §2).

    ``norm`` is a lower bound on the true value that converges to it (``converged``: relative change
    < tol). ``rms_in``/``rms_out`` are of the perturbed input and the output, for κ.
    """

    norm: float
    iters: int
    converged: bool
    method: str  # "jvp/vjp", "jvp/vjp+math-sdpa", "double-vjp"
    rms_in: float
    rms_out: float

    @property
    def kappa(self) -> float | None:
        """κ(x) = ‖J(x)‖·rms(x)/rms(f(x)) (THEORY R6); None when the output is exactly zero."""
        return self.norm * self.rms_in / self.rms_out if self.rms_out > 0 else None


class JacobianSummary(NamedTuple):
    """``graph.facts["jacobian"]``: the whole model's local norm and κ, plus per leaf module."""

    model: JacobianFact | None  # x -> y as SPEC §2 defines them
    x: str  # what x is: "input 'x'" or "output of embedding 'tok'"
    per_module: dict[str, JacobianFact]  # weight-bearing leaf module path -> fact
    mode: str  # "eval" | "train"
    notes: tuple[str, ...] = ()

    @property
    def kappa(self) -> float | None:
        return None if self.model is None else self.model.kappa

    @property
    def largest(self) -> tuple[str, JacobianFact] | None:
        if not self.per_module:
            return None
        return max(self.per_module.items(), key=lambda kv: kv[1].norm)


# --- accessors: one way to read a parameter's statistics at init ----------------------------------
class ParamInfo(NamedTuple):
    """A parameter's statistics at init, whichever way they are known (see :func:`param_info`)."""

    mean: float
    std: float
    rms: float
    absmax: float  # exact for real tensors; rms (or |mean| if constant) from recorded stats
    is_zero: bool
    numel: int
    shape: tuple[int, ...]
    is_constant: bool = False
    trainable: bool = True
    mean_sq: float = 0.0

    @property
    def degenerate(self) -> bool:
        """Zero, or constant with more than one entry (one entry cannot be symmetric)."""
        return self.is_zero or (self.is_constant and self.numel > 1)

def param_info(graph: Graph, name: str | None) -> ParamInfo | None:
    """The one accessor of a parameter's statistics at init: the ``init_stats`` pass's record first (the
    only source on the meta device), else the tensor itself."""
    if not name:
        return None
    t = graph.tensor(name)
    shape = tuple(int(s) for s in t.shape) if t is not None else ()
    trainable = bool(getattr(t, "requires_grad", True)) if name in graph.parameters else False
    stats = (graph.facts.get(INIT_STATS) or {}).get(name)
    if stats is not None:
        mean, std, mean_sq = float(stats.mean), float(stats.std), float(stats.mean_sq)
        rms = math.sqrt(max(mean_sq, 0.0))
        const = bool(stats.is_constant)
        numel = int(stats.numel or (t.numel() if t is not None else 0))
        absmax = float(stats.absmax)
        if not math.isfinite(absmax):
            absmax = abs(mean) if const else rms
        return ParamInfo(mean, std, rms, absmax, bool(stats.is_zero), numel, shape or tuple(stats.shape), const,
                         trainable, mean_sq)
    if t is None or t.is_meta or t.numel() == 0 or not t.is_floating_point():
        return None
    d = t.detach().double()
    std = float(d.std()) if d.numel() > 1 else 0.0
    absmax = float(d.abs().max())
    first = d.reshape(-1)[0]
    const = bool((d == first).all())
    mean_sq = float(d.pow(2).mean())
    return ParamInfo(float(d.mean()), std, math.sqrt(mean_sq), absmax, absmax == 0.0, int(d.numel()), shape,
                     const, trainable, mean_sq)

def fan_in(graph: Graph, node: Node) -> int | None:
    """Fan-in of a weight op, from its attrs or its weight's shape (PyTorch's convention)."""
    if isinstance(node.attrs.get("in_features"), int):  # Linear, and GPT-2's (in, out) Conv1D
        return int(node.attrs["in_features"])
    t = graph.param(node, "weight")
    if t is None or t.dim() < 2:
        return None
    if node.op is Op.LINEAR:
        return int(t.shape[-1])
    n = int(t.shape[1])
    for s in t.shape[2:]:
        n *= int(s)
    return n


# --- init gains (MC201) -------------------------------------------------------------------------------


class InitLayer(NamedTuple):
    """A weight op of an init segment, with the gain its init scale gives (THEORY §4.3)."""

    node: Node
    fn: str | None  # the nonlinearity after it (None: linear)
    attrs: dict[str, object]  # the nonlinearity's attributes
    weight: ParamInfo
    fan: float  # forward fan
    sigma: float  # √(E[W²]·fan), constant scalars on the path included
    q: float | None  # pre-activation second moment (None: unknown)
    fwd: float  # f_l = σ_l / g(φ_l, q_l)
    bwd: float  # √χ_l
    bwd_ideal: float  # √χ_l at the ideal gain
    ideal_std: float  # the variance-preserving std at unit scale: g(φ) / √fan
    ratio: float  # r_l = σ_l / g(φ_l): the weight scale over the one φ needs
    homogeneous: bool  # φ(c·x) = c·φ(x): its gains do not depend on q


class InitSegment(NamedTuple):
    """``graph.facts["init_gains"]`` holds these: a maximal skip-free, norm-free run of weight ops."""

    layers: tuple[InitLayer, ...]
    forward: float
    backward: float
    backward_ideal: float
    start: Node  # first weight op (its input is the segment input)
    end: Node  # last weight op kept
    head: bool  # ends at the model output
    coherent_share: float | None  # share of the output's second moment that still carries the input

    @property
    def deviation(self) -> float:
        """Decades away from a unit gain, the worse direction."""
        return max(abs(math.log10(max(self.forward, 1e-300))), abs(math.log10(max(self.backward, 1e-300))))

    @property
    def attributable(self) -> float:
        """Decades the init scale itself accounts for: the variance-preserving init has forward gain 1
        and backward gain ``backward_ideal``."""
        ratio = self.backward / max(self.backward_ideal, 1e-300)
        return max(abs(math.log10(max(self.forward, 1e-300))), abs(math.log10(max(ratio, 1e-300))))


# --- zero_init (issue 11) ---
ZERO_INIT = "zero_init"


class ZeroInitLayer(NamedTuple):
    """A layer zero-initialised by design. ``role``: "head" (its zero reaches the output), "residual
    branch" (added to another stream) or "gate" (multiplies another tensor). ``as_if``: the signal
    pass predicts the gains with its default init instead (heads only: they make the gains 0)."""

    node: str
    label: str
    role: str
    as_if: bool = False


class ZeroInitFact(NamedTuple):
    """``graph.facts["zero_init"]``: the deliberate zero-inits, and the parameter statistics the
    signal pass uses in place of the zero heads' ("as if not zero-initialised")."""

    layers: tuple[ZeroInitLayer, ...] = ()
    as_if: dict[str, ParamStats] = {}

    def as_if_labels(self) -> tuple[str, ...]:
        return tuple(layer.label for layer in self.layers if layer.as_if)
