"""The lipschitz pass: per-op constants, AutoLip composition rules, where a global bound stops, and the
estimates used on meta (THEORY §1)."""

from __future__ import annotations

import math

import pytest
import torch
from lipschitz_ir import Concat, Product, Residual, to_ir
from torch import nn

from modelcheck.ir import Graph, ModuleInfo, Node, Op, TensorMeta
from modelcheck.passes import PassContext, run_passes
from modelcheck.passes.facts import LipschitzSummary


@pytest.fixture(autouse=True)
def _one_thread():  # type: ignore[no-untyped-def]
    """Tiny tensors: OpenMP spin-waits on shared CI cores only slow them down."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def lipschitz(model: nn.Module, x: torch.Tensor, *, with_model: bool = True) -> tuple[Graph, LipschitzSummary]:
    g = to_ir(model, x)
    ctx = PassContext(inputs=(x,), model=model if with_model else None)
    run_passes(g, ["lipschitz"], ctx)
    return g, g.facts["lipschitz"]


def sigma(w: torch.Tensor) -> float:
    return float(torch.linalg.matrix_norm(w.detach().double().reshape(w.shape[0], -1), 2))


def test_linear_chain_multiplies_gram_bounds() -> None:
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8))
    g, s = lipschitz(m, torch.randn(4, 16))
    want = sigma(m[0].weight) * sigma(m[2].weight)
    assert want <= s.upper_bound <= want * 1.01
    assert s.reason is None and s.certified and not s.local
    assert set(s.per_module) == {"0", "2"}
    assert g.nodes[1].facts["lipschitz"].method == "gram"


def test_residual_adds_and_concat_takes_root_sum_of_squares() -> None:
    torch.manual_seed(1)
    body = nn.Linear(8, 8)
    _, res = lipschitz(nn.Sequential(Residual(body)), torch.randn(2, 8))
    assert res.upper_bound == pytest.approx(1 + sigma(body.weight), rel=1e-2)
    a, b = nn.Linear(8, 3), nn.Linear(8, 5)
    _, cat = lipschitz(nn.Sequential(Concat(a, b)), torch.randn(2, 8))
    assert cat.upper_bound == pytest.approx(math.hypot(sigma(a.weight), sigma(b.weight)), rel=1e-2)


def test_product_of_activations_has_no_global_bound() -> None:
    m = nn.Sequential(
        nn.Linear(8, 8), Product(nn.Linear(8, 8), nn.Sequential(nn.Linear(8, 8), nn.SiLU())), nn.Linear(8, 2)
    )
    g, s = lipschitz(m, torch.randn(2, 8))
    assert s.upper_bound is None
    assert "product of two activations" in s.reason and "at 1" in s.reason
    assert g.nodes[-2].facts["lipschitz"].upto is None  # the last linear inherits the gap


def _graph(nodes: list[Node], params: dict[str, torch.Tensor], modules: dict[str, str]) -> Graph:
    infos = {p: ModuleInfo(p, t, None, 0) for p, t in modules.items()}
    return Graph(nodes, tracer="test", parameters=params, modules=infos)


def _n(
    name: str,
    op: Op,
    inputs: tuple[Node, ...] = (),
    shape: tuple[int, ...] = (2, 4, 8),
    dtype: str = "float32",
    **kw: object,
) -> Node:
    return Node(name, op, kw.pop("target", op.value), inputs, meta=TensorMeta(shape, dtype), **kw)  # type: ignore[arg-type]


def test_attention_stops_the_global_bound_and_embedding_starts_it() -> None:
    emb = torch.randn(50, 8)
    wq = torch.randn(8, 8)
    ids = _n("ids", Op.INPUT, shape=(2, 4), dtype="int64")
    pos = _n("pos", Op.CONST, shape=(2, 4), dtype="int64")
    e = _n("e", Op.EMBEDDING, (ids,), module_path="tok", module_type="Embedding", params={"weight": "tok.weight"})
    p = _n("p", Op.EMBEDDING, (pos,), module_path="pe", module_type="Embedding", params={"weight": "pe.weight"})
    h = _n("h", Op.ADD, (e, p))
    q = _n(
        "q", Op.LINEAR, (h,), module_path="layers.0.self_attn.q", module_type="Linear", params={"weight": "q.weight"}
    )
    a = _n("a", Op.ATTENTION, (q, q, q), module_path="layers.0.self_attn", target="scaled_dot_product_attention")
    out = _n("out", Op.OUTPUT, (a,))
    g = _graph(
        [ids, pos, e, p, h, q, a, out],
        {"tok.weight": emb, "pe.weight": emb, "q.weight": wq},
        {"tok": "Embedding", "pe": "Embedding", "layers.0.self_attn.q": "Linear"},
    )
    run_passes(g, ["lipschitz"], PassContext())
    s = g.facts["lipschitz"]
    assert s.upper_bound is None
    assert s.reason == "unbounded: dot-product attention at layers.0.self_attn has no global Lipschitz constant"
    assert s.start == ("e",)  # the position embedding of a constant is not a start
    assert h.facts["lipschitz"].upto == pytest.approx(1.0)  # only the token embedding varies
    assert q.facts["lipschitz"].upto == pytest.approx(sigma(wq), rel=1e-2)


def test_layernorm_uses_the_local_bound_at_the_example_input() -> None:
    torch.manual_seed(2)
    ln = nn.LayerNorm(16)
    x = torch.randn(4, 16) * 0.1  # row variance ~0.01
    _, local = lipschitz(nn.Sequential(ln), x)
    v = float(x.double().var(-1, unbiased=False).min())
    assert local.upper_bound == pytest.approx(1 / math.sqrt(v / 4 + ln.eps), rel=1e-6)
    assert local.local and local.validity
    _, glob = lipschitz(nn.Sequential(ln), x, with_model=False)  # no model: global max|γ|/√ε
    assert glob.upper_bound == pytest.approx(1 / math.sqrt(ln.eps), rel=1e-6)
    assert not glob.local


def test_batchnorm_eval_is_folded_into_the_conv() -> None:
    from modelcheck.numerics.conv_bounds import conv_bound

    torch.manual_seed(3)
    conv, bn = nn.Conv2d(3, 4, 3, padding=1).double(), nn.BatchNorm2d(4).double()
    bn.running_var.uniform_(0.1, 4.0)
    bn.weight.data.uniform_(-2, 2)
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    g, s = lipschitz(nn.Sequential(conv, bn), x)
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    separate = conv_bound(conv.weight, padding=1, input_size=(6, 6)).value * float(scale.abs().max())
    jac = torch.autograd.functional.jacobian(lambda t: bn.eval()(conv(t)).flatten(), x[:1])
    exact = float(torch.linalg.matrix_norm(jac.reshape(jac.shape[0], -1), 2))
    assert g.nodes[1].facts["lipschitz"].method.endswith("+bn")
    assert g.nodes[2].facts["lipschitz"].bound == 1.0
    assert exact <= s.upper_bound * (1 + 1e-6)
    assert s.upper_bound <= separate * 1.01  # folding never loosens, and usually tightens
    assert "1" not in s.per_module and s.notes


def test_batchnorm_without_fusion_uses_running_stats() -> None:
    bn = nn.BatchNorm1d(5)
    bn.running_var.copy_(torch.tensor([0.25, 1, 1, 1, 4.0]))
    _, s = lipschitz(nn.Sequential(nn.ReLU(), bn), torch.randn(3, 5))
    assert s.upper_bound == pytest.approx(1 / math.sqrt(0.25 + bn.eps), rel=1e-9)


@pytest.mark.parametrize(
    ("layer", "want"),
    [
        (nn.MaxPool2d(3, 1), 3.0),
        (nn.MaxPool2d(3, 2), 2.0),
        (nn.AvgPool2d(2), 0.5),
        (nn.AdaptiveAvgPool2d(1), 1 / 6),
        (nn.Dropout(0.5), 1.0),
        (nn.Flatten(), 1.0),
        (nn.Sigmoid(), 0.25),
        (nn.LeakyReLU(3.0), 3.0),
        (nn.ELU(2.0), 2.0),
    ],
)
def test_constant_ops(layer: nn.Module, want: float) -> None:
    _, s = lipschitz(nn.Sequential(layer), torch.randn(2, 3, 6, 6))
    assert s.upper_bound == pytest.approx(want, rel=1e-4)


def test_meta_model_gets_flagged_estimates_from_init_statistics() -> None:
    from modelcheck.load.initrecord import record_init

    with torch.device("meta"), record_init() as rec:
        m = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 128))
    real = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 128))
    g = to_ir(real, torch.randn(2, 256))
    g.parameters = dict(m.named_parameters())  # same graph, no weights
    ctx = PassContext(meta=True, init_records=rec.resolve(m), model=m)
    run_passes(g, ["lipschitz"], ctx)
    s = g.facts["lipschitz"]
    assert not s.certified
    assert g.nodes[1].facts["lipschitz"].method == "estimate:bai-yin"
    want = sigma(real[0].weight) * sigma(real[2].weight)  # a same-distribution draw
    assert s.upper_bound == pytest.approx(want, rel=0.25)


def test_masks_computed_from_activations_are_held_fixed() -> None:
    x = _n("x", Op.INPUT, shape=(2, 8))
    gt = _n("gt", Op.OTHER, (x,), shape=(2, 8), dtype="bool", attrs={"note": "gt"})
    mf = _n("mf", Op.OTHER, (x, gt), shape=(2, 8), attrs={"note": "masked_fill"})
    rd = _n("rd", Op.OTHER, (mf,), shape=(2, 8), attrs={"note": "round"})
    out = _n("out", Op.OUTPUT, (mf,))
    g = _graph([x, gt, mf, out], {}, {})
    run_passes(g, ["lipschitz"], PassContext())
    s = g.facts["lipschitz"]
    assert s.upper_bound == 1.0 and s.local
    assert any("held fixed" in v for v in s.validity)
    g2 = _graph([x, gt, mf, rd, _n("out", Op.OUTPUT, (rd,))], {}, {})
    run_passes(g2, ["lipschitz"], PassContext())
    assert g2.facts["lipschitz"].reason == "no Lipschitz bound for round at rd"
