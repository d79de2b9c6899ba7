"""The structure pass on hand-built graphs: residual joins, scaling patterns, stacks, plain chains,
attention score sites and saturating chains (no tracer involved)."""

from __future__ import annotations

import math

import pytest
import torch
from structure_ir import IR, plain_mlp, residual_mlp

from modelcheck.ir import Graph
from modelcheck.passes.facts import STRUCTURE, ResidualJoin, StructureSummary
from modelcheck.passes.structure.summary import analyse_structure, join_of


def joins(graph: Graph) -> list[ResidualJoin]:
    s: StructureSummary = graph.facts[STRUCTURE]
    return [graph.node(n).facts[STRUCTURE] for n in s.joins]


@pytest.mark.parametrize("depth", [3, 25, 60])
def test_plain_chain_depth_is_the_layer_count(depth: int) -> None:
    s = analyse_structure(plain_mlp(depth))
    assert s.max_plain_depth == depth
    assert s.shortest_path == s.longest_path == depth
    assert s.joins == ()
    if depth >= 4:
        assert s.plain_chains[0].depth == depth
        assert len(s.plain_chains[0].weight_ops) == depth


@pytest.mark.parametrize("blocks", [1, 12, 50])
def test_residual_blocks_bypass_their_branches(blocks: int) -> None:
    g = residual_mlp(blocks)
    s = analyse_structure(g)
    assert len(s.joins) == blocks
    assert s.longest_path == 2 * blocks + 2
    assert s.shortest_path == 2
    assert s.max_plain_depth == 4  # inp + fc1 + fc2 + out, whatever the number of blocks
    assert len(s.stacks) == 1 and len(s.stacks[s.trunk].joins) == blocks
    for pos, j in enumerate(joins(g)):
        assert (j.skip_weight_ops, j.branch_depth, j.position) == (0, 2, pos)
        assert [g.node(w).module_path for w in j.last_weight_ops] == [f"blocks.{pos}.fc2"]
        assert j.scaling == () and j.branch_norms == () and j.post_norm is None


@pytest.mark.parametrize(
    ("kwargs", "pattern", "field", "value"),
    [
        ({"gate": 0.0}, "gate", "gate_init", 0.0),  # ReZero / SkipInit
        ({"gate": 1e-6}, "gate", "gate_init", 1e-6),  # LayerScale (ConvNeXt)
        ({"gate": 0.5}, None, "gate_init", 0.5),  # a gate of 0.5 is not a scaling scheme
        ({"zero_last": True}, "zero-last", "last_gain", 0.0),  # Fixup
        ({"branch_scale": 0.2}, "scaled", "branch_scale", 0.2),  # NF-ResNet alpha
        ({"branch_scale": 0.9}, None, "branch_scale", 0.9),
    ],
)
def test_scaling_patterns(kwargs: dict, pattern: str | None, field: str, value: float) -> None:
    g = residual_mlp(12, **kwargs)
    analyse_structure(g)
    for j in joins(g):
        assert getattr(j, field) == pytest.approx(value, abs=1e-12)
        assert (pattern in j.scaling) if pattern else j.scaling == ()


def test_small_last_layer_init_counts_as_scaling() -> None:
    b = IR()
    h = b.input(64)
    blocks = 16
    for i in range(blocks):  # GPT-2: last branch layer std 0.02/sqrt(2N) << 1/sqrt(fan_in)/sqrt(N)
        w2 = torch.randn(64, 64) * 0.02 / math.sqrt(2 * blocks)
        h = b.add(h, b.linear(b.act(b.linear(h, 64, 64, f"b.{i}.fc1"), "gelu"), 64, 64, f"b.{i}.fc2", w2))
    g = b.graph(h)
    analyse_structure(g)
    assert all("small-last" in j.scaling for j in joins(g))
    assert all(j.last_gain is not None and j.last_gain < 1 / math.sqrt(blocks) for j in joins(g))


@pytest.mark.parametrize("post", [True, False])
def test_post_and_pre_norm_stacks(post: bool) -> None:
    g = residual_mlp(8, norm="layer", post_norm=post)
    s = analyse_structure(g)
    stack = s.stacks[s.trunk]
    assert stack.post_ln is post
    assert len(stack.joins) == 8 and stack.blocks == 8
    for j in joins(g):
        assert (j.post_norm is not None) is post
        assert bool(j.branch_norms) is not post


def test_deepnorm_skip_scale_is_recorded() -> None:
    b = IR()
    h = b.input(32)
    alpha = (2 * 6) ** 0.25
    for i in range(6):
        branch = b.linear(b.act(b.linear(h, 32, 32, f"l.{i}.fc1"), "relu"), 32, 32, f"l.{i}.fc2")
        h = b.norm(b.add(b.mul(h, scalar=alpha), branch), path=f"l.{i}.norm")
    g = b.graph(h)
    s = analyse_structure(g)
    assert all(j.skip_scale == pytest.approx(alpha) and "scaled" in j.scaling for j in joins(g))
    assert s.stacks[0].post_ln and s.stacks[0].deepnorm


def test_parallel_block_forks_at_the_stream() -> None:
    """GPT-J style x + attn(ln(x)) + mlp(ln(x)): the second add still forks at x, not at ln(x)."""
    b = IR()
    x = b.input(16, 32)
    ln = b.norm(x, path="ln")
    attn = b.linear(b.linear(ln, 32, 32, "attn.v"), 32, 32, "attn.o")
    mlp = b.linear(b.act(b.linear(ln, 32, 64, "mlp.fc1"), "gelu"), 64, 32, "mlp.fc2")
    g = b.graph(b.add(b.add(x, attn), mlp))
    analyse_structure(g)
    first, second = joins(g)
    assert first.fork == x.name and second.fork == x.name
    assert second.branch == mlp.name and second.skip_weight_ops == 0


def test_projection_shortcut_is_a_short_skip() -> None:
    b = IR()
    x = b.input(16, 8, 8)
    short = b.conv(x, 16, 32, "down")
    branch = b.conv(b.act(b.conv(b.act(b.conv(x, 16, 8, "c1"), "relu"), 8, 8, "c2"), "relu"), 8, 32, "c3")
    g = b.graph(b.add(short, branch))
    analyse_structure(g)
    (j,) = joins(g)
    assert (j.skip, j.branch, j.skip_weight_ops, j.branch_depth) == (short.name, branch.name, 1, 3)


@pytest.mark.parametrize("case", ["equal-depth", "broadcast", "param"])
def test_adds_that_are_not_residual(case: str) -> None:
    b = IR()
    x = b.input(16, 32)
    if case == "equal-depth":
        out = b.add(b.linear(x, 32, 32, "a"), b.linear(x, 32, 32, "b"))
    elif case == "broadcast":  # an attention mask of another shape
        out = b.add(b.linear(x, 32, 32, "a"), b.reshape(b.linear(x, 32, 1, "m"), 8, 16, 1))
    else:  # x + positional embedding (a Parameter: only one operand carries the input)
        out = b.add(b.linear(x, 32, 32, "a"), b.param("pos", torch.zeros(16, 32)))
    g = b.graph(out)
    s = analyse_structure(g)
    assert s.joins == ()
    assert all(join_of(n) is None for n in g)


def test_concat_skips_shorten_the_plain_chain() -> None:
    """A U-Net: the deepest conv path is long, but every conv has a short way around the others."""
    b = IR()
    x = b.input(3, 16, 16)
    e1 = b.conv(b.conv(x, 3, 8, "enc1.0"), 8, 8, "enc1.1")
    e2 = b.conv(b.conv(e1, 8, 16, "enc2.0"), 16, 16, "enc2.1")
    m = b.conv(b.conv(e2, 16, 16, "mid.0"), 16, 16, "mid.1")
    d2 = b.conv(b.conv(b.concat(m, e2), 32, 16, "dec2.0"), 16, 16, "dec2.1")
    d1 = b.conv(b.conv(b.concat(d2, e1), 24, 8, "dec1.0"), 8, 8, "dec1.1")
    g = b.graph(b.conv(d1, 8, 2, "out"))
    s = analyse_structure(g)
    assert s.longest_path == 11
    assert s.shortest_path == 5  # enc1 -> (concat) -> dec1 -> out
    assert s.max_plain_depth == 11  # the bottleneck convs lie on the long path only
    assert [c.depth for c in s.plain_chains] == [11]
    assert s.joins == ()


@pytest.mark.parametrize(("fn", "orthogonal", "expected"),
                         [("tanh", True, True), ("relu", True, False), ("tanh", False, False)])
def test_dynamical_isometry_detection(fn: str, orthogonal: bool, expected: bool) -> None:
    s = analyse_structure(plain_mlp(30, fn, width=48, orthogonal=orthogonal))
    chain = s.plain_chains[0]
    assert chain.isometry_checked and chain.isometric is expected


def _attention(b: IR, x, *, q_scale: float | None = None, post: str | None = None) -> object:
    q = b.reshape(b.linear(x, 64, 64, "attn.q"), 8, 4, 16, 16)
    if q_scale is not None:
        q = b.mul(q, scalar=q_scale)
    k = b.reshape(b.reshape(b.linear(x, 64, 64, "attn.k"), 8, 4, 16, 16), 8, 4, 16, 16)
    v = b.reshape(b.linear(x, 64, 64, "attn.v"), 8, 4, 16, 16)
    s = b.matmul(q, k, (8, 4, 16, 16))
    if post == "div":
        s = b.div(s, 4.0)
    elif post == "mul":
        s = b.mul(s, scalar=0.25)
    s = b.add(s, b.const(1, 1, 16, 16))  # a causal mask built from constants
    return b.matmul(b.softmax(s), v, (8, 4, 16, 16))


@pytest.mark.parametrize(("q_scale", "post", "pre", "after", "explicit"), [
    (None, None, 1.0, 1.0, False),
    (None, "div", 1.0, 0.25, True),
    (None, "mul", 1.0, 0.25, True),
    (0.25, None, 0.25, 1.0, True),
])
def test_matmul_score_sites(q_scale, post, pre, after, explicit) -> None:
    b = IR()
    x = b.input(16, 64)
    g = b.graph(_attention(b, x, q_scale=q_scale, post=post))
    (site,) = analyse_structure(g).score_sites
    assert (site.kind, site.d_k, site.explicit) == ("matmul", 16, explicit)
    assert site.pre_scale == pytest.approx(pre) and site.post_scale == pytest.approx(after)
    assert g.node(site.query_proj).module_path == "attn.q" and g.node(site.key_proj).module_path == "attn.k"


@pytest.mark.parametrize(("scale", "post", "explicit"), [(None, 0.25, True), (1.0, 1.0, False), (0.125, 0.125, True)])
def test_sdpa_score_sites(scale, post, explicit) -> None:
    b = IR()
    x = b.input(16, 64)
    q, k, v = (b.reshape(b.linear(x, 64, 64, f"attn.{n}"), 8, 4, 16, 16) for n in "qkv")
    g = b.graph(b.sdpa(q, k, v, scale=scale))
    (site,) = analyse_structure(g).score_sites
    assert (site.kind, site.d_k, site.explicit) == ("sdpa", 16, explicit)
    assert site.post_scale == pytest.approx(post)


def test_saturating_chain_and_gates() -> None:
    b = IR()
    h = b.input(32)
    for i in range(6):
        h = b.act(b.linear(h, 32, 32, f"net.{2 * i}"), "sigmoid", path=f"net.{2 * i + 1}")
    gate = b.act(b.linear(h, 32, 32, "se.fc"), "sigmoid", path="se.act")  # consumed by a product
    h = b.mul(h, other=gate)
    h = b.act(b.linear(h, 32, 32, "tail"), "tanh", path="tail.act")
    g = b.graph(h)
    chains = analyse_structure(g).saturating_chains
    assert [len(c.activations) for c in chains] == [6, 1]
    assert gate.name not in {a for c in chains for a in c.activations}
    first = chains[0]
    assert first.fns == ("sigmoid",) * 6 and len(first.weight_ops) == 6
    assert first.start == g.nodes[0].name and first.end == g.node(first.activations[-1]).name


def test_add_alpha_and_computed_weights() -> None:
    """torch.add(x, f(x), alpha=0.1) scales the branch; x @ (g * V) is a weight op like a Linear."""
    b = IR()
    h = b.input(32)
    for i in range(3):
        w = b.mul(b.param(f"v.{i}", torch.randn(32, 32) / 32**0.5), scalar=1.0)  # computed from parameters
        branch = b.matmul(b.act(h, "relu"), w, (8, 32))
        h = b.add(h, branch)
        h.attrs["alpha"] = 0.1
    g = b.graph(h)
    s = analyse_structure(g)
    assert s.weight_ops == 3 and len(s.joins) == 3
    for j in joins(g):
        assert j.branch_depth == 1 and j.branch_scale == pytest.approx(0.1) and "scaled" in j.scaling
