"""Init recording (modelcheck.load.initrecord) and the init_stats pass: a model built on meta gets the same
parameter statistics as the same model built for real; a 70B Llama is analysed without weights."""

from __future__ import annotations

import math
import resource
import time

import pytest
import torch
from torch import nn

from modelcheck.ir import Graph, ModuleInfo, Node, Op, TensorMeta
from modelcheck.load.initrecord import InitRecord, record_init, trunc_normal
from modelcheck.passes import PassContext, run_passes
from modelcheck.passes.facts import ParamStats


class Custom(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(30, 40)
        self.emb = nn.Embedding(50, 8, padding_idx=0)
        self.gamma = nn.Parameter(torch.ones(8) * 1e-6)  # LayerScale
        self.alpha = nn.Parameter(torch.zeros(1))  # ReZero
        self.pos = nn.Parameter(torch.randn(1, 16, 8) * 0.02)
        self.tn = nn.Linear(64, 64)
        nn.init.trunc_normal_(self.tn.weight, std=0.02)
        self.orth = nn.Linear(16, 32)
        nn.init.orthogonal_(self.orth.weight, gain=2.0)
        self.kn = nn.Linear(16, 16)
        nn.init.kaiming_normal_(self.kn.weight)
        self.kn.weight.data.mul_(0.5)
        self.bn = nn.BatchNorm1d(4)
        self.mha = nn.MultiheadAttention(8, 2)
        self.lstm = nn.LSTM(6, 5)


WANT = {
    "fc.weight": ("uniform", 0.0, 1 / math.sqrt(3 * 30)),
    "emb.weight": ("mixture", 0.0, math.sqrt(49 / 50)),  # N(0, 1) with a zeroed padding row
    "gamma": ("constant", 1e-6, 0.0),
    "alpha": ("constant", 0.0, 0.0),
    "pos": ("normal", 0.0, 0.02),
    "tn.weight": ("trunc_normal", 0.0, 0.02),
    "orth.weight": ("orthogonal", 0.0, 2.0 / math.sqrt(32)),
    "kn.weight": ("normal", 0.0, 0.5 * math.sqrt(2 / 16)),
    "bn.running_var": ("constant", 1.0, 0.0),
    "mha.in_proj_weight": ("uniform", 0.0, math.sqrt(6 / 32) / math.sqrt(3)),
    "mha.out_proj.bias": ("constant", 0.0, 0.0),
    "lstm.weight_hh_l0": ("uniform", 0.0, 1 / math.sqrt(15)),
}


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_records_match_the_applied_inits(device: str) -> None:
    with torch.device(device), record_init() as rec:
        m = Custom()
    got = rec.resolve(m)
    for name, (kind, mean, std) in WANT.items():
        r = got[name]
        assert (r.kind, r.mean, r.std) == (kind, pytest.approx(mean, abs=1e-12), pytest.approx(std, rel=1e-9)), name
    assert got["orth.weight"].value == 2.0


def test_trunc_normal_moments() -> None:
    torch.manual_seed(0)
    t = torch.empty(400_000)
    nn.init.trunc_normal_(t, mean=0.3, std=1.0, a=-0.5, b=1.0)
    r = trunc_normal(0.3, 1.0, -0.5, 1.0)
    assert r.mean == pytest.approx(float(t.mean()), abs=3e-3)
    assert r.std == pytest.approx(float(t.std()), abs=3e-3)


def test_classic_erfinv_truncated_normal_is_recognised_on_meta() -> None:
    def old_trunc_normal_(t: torch.Tensor, std: float) -> None:  # timm / torch<2.9 style, runs on meta
        lo, hi = 0.5 * (1 + math.erf(-2 / math.sqrt(2))), 0.5 * (1 + math.erf(2 / math.sqrt(2)))
        t.uniform_(2 * lo - 1, 2 * hi - 1)
        t.erfinv_()
        t.mul_(std * math.sqrt(2.0))
        t.add_(0.0)
        t.clamp_(min=-2 * std, max=2 * std)

    with torch.device("meta"), record_init() as rec:
        lin = nn.Linear(8, 8)
        old_trunc_normal_(lin.weight.data, 0.02)
    r = rec.resolve(lin)["weight"]
    assert r.kind == "trunc_normal"
    assert r.std == pytest.approx(trunc_normal(0.0, 0.02, -0.04, 0.04).std, rel=1e-6)


def test_partial_and_unknown_writes() -> None:
    with torch.device("meta"), record_init() as rec:
        w = nn.Parameter(torch.empty(10, 10))
        nn.init.normal_(w, 0.0, 1.0)
        with torch.no_grad():
            w[0].fill_(0.0)  # one row of ten
        v = nn.Parameter(torch.empty(4))
        with torch.no_grad():
            v.exponential_()
    holder = nn.Module()
    holder.w, holder.v = w, v
    got = rec.resolve(holder)
    assert got["w"].kind == "mixture" and got["w"].std == pytest.approx(math.sqrt(0.9))
    assert got["v"].kind == "unknown"


def _graph_of(model: nn.Module) -> Graph:
    mods = {p: ModuleInfo(p, type(m).__name__, None, 0) for p, m in model.named_modules()}
    return Graph([], tracer="test", parameters=dict(model.named_parameters()), buffers=dict(model.named_buffers()),
                 modules=mods)


def init_stats(model: nn.Module, records: dict[str, InitRecord] | None = None) -> dict[str, ParamStats]:
    g = _graph_of(model)
    run_passes(g, ["init_stats"], PassContext(meta=records is not None, init_records=records or {}))
    return g.facts["init_stats"]


def test_default_init_table_without_records() -> None:
    with torch.device("meta"):
        m = nn.Sequential(nn.Linear(100, 50), nn.Conv2d(4, 8, 3), nn.Embedding(10, 4), nn.LayerNorm(4),
                          nn.ConvTranspose2d(8, 4, 2), nn.GRU(3, 6))
    s = init_stats(m, {})
    assert s["0.weight"].source == "default" and s["0.weight"].std == pytest.approx(1 / math.sqrt(300))
    assert s["0.bias"].std == pytest.approx(1 / math.sqrt(300))
    assert s["1.weight"].std == pytest.approx(1 / math.sqrt(3 * 36))
    assert s["2.weight"].mean_sq == pytest.approx(1.0)
    assert s["3.weight"].is_constant and s["3.bias"].is_zero
    assert s["4.weight"].std == pytest.approx(1 / math.sqrt(3 * 4 * 4))  # fan "in" = C_out/g·∏k
    assert s["5.weight_ih_l0"].std == pytest.approx(1 / math.sqrt(3 * 6))


def test_tensor_statistics_win_over_records() -> None:
    lin = nn.Linear(20, 20)
    with torch.no_grad():
        lin.weight.fill_(0.5)
    s = init_stats(lin, {"weight": InitRecord("normal", 0.0, 1.0)})
    w = s["weight"]
    assert (w.source, w.mean, w.std, w.is_constant, w.is_zero) == ("tensor", 0.5, 0.0, True, False)
    assert w.fro_sq == pytest.approx(400 * 0.25)


TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=300, initializer_range=0.05)


def _llama(device: str, **cfg: int) -> tuple[nn.Module, dict[str, InitRecord]]:
    tf = pytest.importorskip("transformers")
    torch.manual_seed(0)
    with torch.device(device), record_init() as rec:
        model = tf.LlamaForCausalLM(tf.LlamaConfig(**cfg))
    return model, rec.resolve(model)


def test_tiny_llama_on_meta_matches_the_real_build() -> None:
    real, _ = _llama("cpu", **TINY)
    meta, records = _llama("meta", **TINY)
    want, got = init_stats(real), init_stats(meta, records)
    params = {n for n, _ in real.named_parameters()}
    assert params <= set(got)
    assert "model.rotary_emb.inv_freq" not in got  # computed buffers have no init distribution
    for name in params:
        w, g = want[name], got[name]
        assert g.source == "init-record", name
        assert g.is_constant == w.is_constant and g.is_zero == w.is_zero, name
        tol = 4 * max(w.std, 1e-12) / math.sqrt(w.numel) + 1e-12  # sampling error of the mean
        assert abs(g.mean - w.mean) <= tol + 1e-9, name
        if w.numel >= 1000:
            assert g.std == pytest.approx(w.std, rel=0.05), name
    assert got["model.layers.0.mlp.down_proj.weight"].std == pytest.approx(0.05)


LLAMA_70B = dict(hidden_size=8192, intermediate_size=28672, num_hidden_layers=80, num_attention_heads=64,
                 num_key_value_heads=8, vocab_size=32000)


def _leaf_chain_ir(model: nn.Module) -> Graph:
    """Leaves in definition order as a chain (enough to exercise the meta estimates without a tracer)."""
    nodes = [Node("ids", Op.INPUT, "input_ids", meta=TensorMeta((1, 8), "int64"))]
    for path, m in model.named_modules():
        if next(m.children(), None) is not None or next(m.parameters(recurse=False), None) is None:
            continue
        name = type(m).__name__
        op = Op.EMBEDDING if "Embedding" in name else Op.LINEAR if "Linear" in name else Op.NORM
        nodes.append(Node(f"n{len(nodes)}", op, name, (nodes[-1],), module_path=path, module_type=name,
                          params={k: f"{path}.{k}" for k, _ in m.named_parameters(recurse=False)},
                          attrs={"kind": "rms", "eps": 1e-6} if op is Op.NORM else {}))
    nodes.append(Node("out", Op.OUTPUT, "output", (nodes[-1],)))
    return Graph(nodes, tracer="test", parameters=dict(model.named_parameters()),
                 modules={p: ModuleInfo(p, type(m).__name__, None, 0) for p, m in model.named_modules()})


def analyse_70b_on_meta() -> dict[str, float]:
    """Build a 70B Llama on meta, run init_stats + lipschitz; returns timings and checks (subprocess body)."""
    t0 = time.perf_counter()
    model, records = _llama("meta", **LLAMA_70B)
    n_params = sum(p.numel() for p in model.parameters())
    t1 = time.perf_counter()
    try:
        from modelcheck.trace.tracers import trace_model  # type: ignore[attr-defined]

        g = trace_model(model, (torch.zeros(1, 8, dtype=torch.long, device="meta"),))
    except Exception:
        g = _leaf_chain_ir(model)
    t2 = time.perf_counter()
    ctx = PassContext(meta=True, init_records=records, model=model)
    run_passes(g, ["init_stats", "lipschitz"], ctx)
    t3 = time.perf_counter()
    stats, lip = g.facts["init_stats"], g.facts["lipschitz"]
    down = stats["model.layers.79.mlp.down_proj.weight"]
    return {
        "seconds": t3 - t0,
        "build_s": t1 - t0,
        "trace_s": t2 - t1,
        "passes_s": t3 - t2,
        "tracer": g.tracer,
        "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,  # KiB on Linux
        "params": float(n_params),
        "all_meta": float(all(p.is_meta for p in model.parameters())),
        "down_std": down.std,
        "down_from_record": float(down.source == "init-record"),
        "certified": float(lip.certified),
        "down_bound": lip.per_module["model.layers.0.mlp.down_proj"],
    }


@pytest.mark.slow
def test_llama_70b_on_meta_gets_stats_and_a_lipschitz_estimate() -> None:
    pytest.importorskip("transformers")
    import json
    import subprocess
    import sys
    from pathlib import Path

    code = "import json, test_meta; print(json.dumps(test_meta.analyse_70b_on_meta()))"
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent, capture_output=True, text=True,
                         timeout=300, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["params"] > 6.5e10 and r["all_meta"] == 1.0
    assert r["down_std"] == pytest.approx(0.02) and r["down_from_record"] == 1.0
    assert r["certified"] == 0.0  # estimates, flagged as such
    assert r["down_bound"] == pytest.approx(0.02 * (math.sqrt(8192) + math.sqrt(28672)))
    assert r["peak_gb"] < 3.0, r
    print(f"\n70B meta: {r['seconds']:.1f} s (build {r['build_s']:.1f}, trace [{r['tracer']}] {r['trace_s']:.1f}, "
          f"init_stats + lipschitz {r['passes_s']:.2f}), peak RSS {r['peak_gb']:.2f} GB")
