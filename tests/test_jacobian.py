"""Local Jacobian norms (THEORY §2): power iteration converges to the exact SVD for linear ops, is
monotone, has working fallbacks (CPU flash SDPA, train-mode BatchNorm), and the pass leaves the model
exactly as it found it."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from lipschitz_ir import Residual, to_ir
from torch import nn

from modelcheck.ir import Graph, ModuleInfo, Node, Op, TensorMeta
from modelcheck.numerics.jacobian_norm import jacobian_norm
from modelcheck.passes import JacobianOptions, PassContext, run_passes


@pytest.fixture(autouse=True)
def _one_thread():  # type: ignore[no-untyped-def]
    """Tiny tensors: OpenMP spin-waits on shared CI cores only slow them down."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def materialised_norm(f, x: torch.Tensor) -> float:  # type: ignore[no-untyped-def]
    jac = torch.autograd.functional.jacobian(lambda t: f(t).flatten(), x, vectorize=True)
    return float(torch.linalg.matrix_norm(jac.reshape(jac.shape[0], -1).double(), 2))


LINEAR_OPS = [
    (nn.Linear(7, 5), (3, 7)),
    (nn.Conv2d(2, 3, 3, stride=2, padding=1, bias=False), (1, 2, 6, 6)),
    (nn.ConvTranspose1d(3, 2, 3, stride=2, bias=False), (1, 3, 5)),
    (nn.AvgPool2d(3, 2, padding=1), (1, 2, 6, 6)),
    (nn.Conv1d(4, 4, 3, groups=2, dilation=2, bias=False), (2, 4, 9)),
]


@pytest.mark.parametrize(
    ("op", "shape"), LINEAR_OPS, ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else ""
)
def test_power_iteration_converges_to_exact_svd_for_linear_ops(op: nn.Module, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    op = op.double()
    x = torch.randn(shape, dtype=torch.float64)
    got = jacobian_norm(op, x, max_iters=2000, tol=1e-12)
    want = materialised_norm(op, x)
    assert got.norm == pytest.approx(want, rel=1e-4)
    assert got.norm <= want * (1 + 1e-9)


def test_estimates_are_non_decreasing_in_iterations() -> None:
    torch.manual_seed(1)
    mlp = nn.Sequential(nn.Linear(10, 20), nn.GELU(), nn.Linear(20, 20), nn.Tanh(), nn.Linear(20, 4)).double()
    x = torch.randn(3, 10, dtype=torch.float64)
    seq = [jacobian_norm(mlp, x, max_iters=k, tol=0.0).norm for k in range(1, 15)]
    assert all(b >= a * (1 - 1e-12) for a, b in zip(seq, seq[1:]))
    assert seq[-1] <= materialised_norm(mlp, x) * (1 + 1e-9)


def test_double_vjp_agrees_with_forward_mode() -> None:
    torch.manual_seed(2)
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.SiLU(), nn.Flatten(), nn.Linear(16, 3)).double()
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    a = jacobian_norm(m, x, max_iters=200, tol=1e-12)
    b = jacobian_norm(m, x, max_iters=200, tol=1e-12, functional=False)
    assert (a.method, b.method) == ("jvp/vjp", "double-vjp")
    assert a.norm == pytest.approx(b.norm, rel=1e-8)


def test_cpu_flash_attention_falls_back_and_stays_exact() -> None:
    torch.manual_seed(3)
    x = torch.randn(1, 2, 5, 4)

    def f(t: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(t, t, t)

    got = jacobian_norm(f, x, max_iters=500, tol=1e-10)
    assert got.method != "jvp/vjp"
    assert got.norm == pytest.approx(materialised_norm(f, x), rel=1e-3)


def test_output_independent_of_input_gives_zero() -> None:
    got = jacobian_norm(lambda t: torch.ones(3) + 0 * t.sum(), torch.randn(4))
    assert got.norm == 0.0


def _run(model: nn.Module, x: torch.Tensor, **jacobian: object) -> Graph:
    g = to_ir(model, x)
    # A generous budget: these tests are about the numbers, and a loaded CI machine must not cut them short.
    jacobian = {"budget_s": 60.0, **jacobian}
    ctx = PassContext(inputs=(x,), model=model, jacobian=JacobianOptions(**jacobian))  # type: ignore[arg-type]
    run_passes(g, ["jacobian"], ctx)
    g.facts["_ctx"] = ctx
    return g


def test_pass_gives_per_module_and_model_norms_and_kappa() -> None:
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), Residual(nn.Linear(16, 16)), nn.LayerNorm(16), nn.Linear(16, 4))
    x = torch.randn(5, 8)
    g = _run(model, x, max_iters=200)
    s = g.facts["jacobian"]
    assert set(s.per_module) == {"0", "2.body.0", "3", "4"}
    lin = s.per_module["0"]
    assert lin.norm == pytest.approx(float(torch.linalg.matrix_norm(model[0].weight.detach().double(), 2)), rel=2e-2)
    y = model(x)
    assert s.model.rms_in == pytest.approx(float(x.pow(2).mean().sqrt()), rel=1e-5)
    assert s.model.rms_out == pytest.approx(float(y.detach().pow(2).mean().sqrt()), rel=1e-5)
    assert s.kappa == pytest.approx(s.model.norm * s.model.rms_in / s.model.rms_out)
    assert s.largest is not None and s.largest[1].norm == max(f.norm for f in s.per_module.values())
    assert g.nodes[1].facts["jacobian"] is lin


def test_batchnorm_train_mode_uses_batch_statistics_and_restores_buffers() -> None:
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(6, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 2)).double()
    model.train()
    x = torch.randn(8, 6, dtype=torch.float64)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    g = _run(model, x, mode="train", max_iters=500, tol=1e-12)
    s = g.facts["jacobian"]
    assert s.mode == "train" and s.model.method == "double-vjp"
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(m.training for m in model.modules())
    ref = copy.deepcopy(model).train()
    assert s.model.norm == pytest.approx(materialised_norm(ref, x), rel=1e-4)


def test_eval_mode_restores_training_flags() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Linear(4, 2))
    model.train()
    g = _run(model, torch.randn(3, 4))
    assert g.facts["jacobian"].mode == "eval" and all(m.training for m in model.modules())


def test_token_model_perturbs_the_embedding_output() -> None:
    class Tok(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tok = nn.Embedding(20, 8)
            self.proj = nn.Linear(8, 8)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.proj(torch.tanh(self.tok(ids)))

    torch.manual_seed(6)
    model, ids = Tok(), torch.randint(0, 20, (2, 5))
    nodes = [Node("ids", Op.INPUT, "ids", meta=TensorMeta((2, 5), "int64"))]
    nodes.append(
        Node(
            "e",
            Op.EMBEDDING,
            "Embedding",
            (nodes[0],),
            module_path="tok",
            module_type="Embedding",
            params={"weight": "tok.weight"},
            meta=TensorMeta((2, 5, 8), "float32"),
        )
    )
    nodes.append(
        Node("t", Op.ACTIVATION, "tanh", (nodes[1],), attrs={"fn": "tanh"}, meta=TensorMeta((2, 5, 8), "float32"))
    )
    nodes.append(
        Node(
            "p",
            Op.LINEAR,
            "Linear",
            (nodes[2],),
            module_path="proj",
            module_type="Linear",
            params={"weight": "proj.weight", "bias": "proj.bias"},
            meta=TensorMeta((2, 5, 8), "float32"),
        )
    )
    nodes.append(Node("out", Op.OUTPUT, "output", (nodes[3],)))
    g = Graph(
        nodes,
        tracer="test",
        parameters=dict(model.named_parameters()),
        modules={p: ModuleInfo(p, type(m).__name__, None, 0) for p, m in model.named_modules()},
    )
    run_passes(g, ["jacobian"], PassContext(inputs=(ids,), model=model, jacobian=JacobianOptions(max_iters=300, budget_s=60.0)))
    s = g.facts["jacobian"]
    assert s.x == "output of embedding 'tok'"
    e = model.tok(ids).detach()
    want = materialised_norm(lambda t: model.proj(torch.tanh(t)), e)
    assert s.model.norm == pytest.approx(want, rel=1e-3)
    assert s.model.rms_in == pytest.approx(float(e.pow(2).mean().sqrt()), rel=1e-5)


@pytest.mark.parametrize(
    ("settings", "meta", "why"),
    [
        ({}, False, "no live model"),
        ({"model": nn.Linear(2, 2)}, True, "meta"),
    ],
)
def test_pass_skips_with_a_reason(settings: dict, meta: bool, why: str) -> None:
    g = to_ir(nn.Sequential(nn.Linear(2, 2)), torch.randn(1, 2))
    ctx = PassContext(inputs=(torch.randn(1, 2),), meta=meta, **settings)
    run_passes(g, ["jacobian"], ctx)
    assert why in ctx.skipped["jacobian"]
    assert "jacobian" not in g.facts


def test_time_budget_is_respected() -> None:
    model = nn.Sequential(*[nn.Linear(64, 64) for _ in range(6)])
    g = _run(model, torch.randn(4, 64), budget_s=0.0)
    s = g.facts["jacobian"]
    assert len(s.per_module) <= 1 and s.model is not None and s.model.iters == 1
    assert math.isfinite(s.model.norm)


@pytest.mark.parametrize("scale", [1e-30, 1e25])
def test_extreme_norms_neither_underflow_nor_overflow(scale: float) -> None:
    # σ² would leave float32's range; the normalised iteration keeps σ itself
    w = torch.randn(6, 6, generator=torch.Generator().manual_seed(9))
    got = jacobian_norm(lambda t: (t @ w.T) * scale, torch.randn(2, 6), max_iters=500, tol=1e-7)
    want = float(torch.linalg.matrix_norm(w.double(), 2)) * scale
    assert got.norm == pytest.approx(want, rel=1e-3)


@pytest.mark.slow
def test_traced_hugging_face_llama_gets_kappa_and_an_attention_reason() -> None:
    tf = pytest.importorskip("transformers")
    trace = pytest.importorskip("modelcheck.trace.tracers")
    torch.manual_seed(0)
    cfg = tf.LlamaConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=300,
    )
    model = tf.LlamaForCausalLM(cfg).train()
    ids = torch.randint(0, 300, (2, 12))
    g = trace.trace_model(model, (ids,))
    ctx = PassContext(inputs=(ids,), model=model, jacobian=JacobianOptions(budget_s=60.0))
    run_passes(g, ["lipschitz", "jacobian"], ctx)
    lip, jac = g.facts["lipschitz"], g.facts["jacobian"]
    assert lip.upper_bound is None and lip.reason.startswith("unbounded: dot-product attention at model.layers.0")
    assert jac.x == "output of embedding 'model.embed_tokens'"
    assert jac.model.method != "jvp/vjp"  # CPU flash SDPA has no forward-mode AD: a fallback ran
    assert 1 < jac.kappa < 1e3  # THEORY R6: transformers at init sit around 10
    assert {"model.layers.0.mlp.down_proj", "model.layers.0.input_layernorm"} <= set(jac.per_module)
    assert all(m.training for m in model.modules())
