"""Soundness (THEORY §2 property tests 1 and 5): the local Jacobian norm at any input, adversarial ones
included (tiny row variance, ties, kinks), never exceeds the certified bound — per op and composed."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lipschitz_ir import Concat, Residual, to_ir
from torch import nn

from modelcheck.numerics.jacobian_norm import jacobian_norm
from modelcheck.passes import JacobianOptions, PassContext, run_passes


@pytest.fixture(autouse=True)
def _one_thread():  # type: ignore[no-untyped-def]
    """Tiny tensors: OpenMP spin-waits on shared CI cores only slow them down."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TOL = 1 + 1e-6
PI = dict(max_iters=100, tol=1e-9)


def certified_vs_local(model: nn.Module, x: torch.Tensor) -> tuple[float, float]:
    model = model.double().eval()
    x = x.double()
    g = to_ir(model, x)
    run_passes(g, ["lipschitz"], PassContext(inputs=(x,), model=model))
    bound = g.facts["lipschitz"].upper_bound
    local = jacobian_norm(lambda t: model(t), x, **PI).norm
    return bound, local


def adversarial(x: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "tiny-variance":  # LayerNorm rows with variance ~1e-8
        return x.mean(-1, keepdim=True) + 1e-4 * x
    if kind == "ties":  # max-pool / softmax ties
        return x.round()
    if kind == "kinks":  # ReLU kinks: many exact zeros
        return torch.where(x.abs() < 0.5, torch.zeros_like(x), x)
    return x


def _randomise(m: nn.Module, gen: torch.Generator) -> nn.Module:
    for mod in m.modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            mod.running_var.copy_(torch.rand(mod.running_var.shape, generator=gen) * 3 + 0.05)
            mod.running_mean.copy_(torch.randn(mod.running_mean.shape, generator=gen))
        if (
            isinstance(mod, (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm))
            and mod.weight is not None
        ):
            mod.weight.data.copy_(torch.randn(mod.weight.shape, generator=gen))
    return m


_ACTS = [nn.ReLU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.Mish, nn.Hardswish, nn.SELU, nn.ELU, nn.Softplus]
INPUT_KINDS = st.sampled_from(["gauss", "tiny-variance", "ties", "kinks"])


@st.composite
def single_ops(draw: st.DrawFn) -> tuple[nn.Module, tuple[int, ...]]:
    kind = draw(st.sampled_from(["linear", "conv1d", "conv2d", "convT2d", "conv3d", "norm", "act", "pool"]))
    c = draw(st.integers(1, 3)) * 2
    if kind == "linear":
        return nn.Linear(draw(st.integers(1, 12)), draw(st.integers(1, 12))), ()
    if kind.startswith("conv"):
        dim = 3 if kind == "conv3d" else 1 if kind == "conv1d" else 2
        k, s, d = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
        groups = draw(st.sampled_from([1, 2]))
        if kind == "convT2d":
            return nn.ConvTranspose2d(
                c, c, k, stride=s, padding=min(draw(st.integers(0, 1)), d * (k - 1)), dilation=d, groups=groups
            ), ()
        mode = draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"])) if dim == 2 else "zeros"
        p = draw(st.integers(0, 1)) if mode == "zeros" else 1
        return getattr(nn, f"Conv{dim}d")(
            c, c, k, stride=s, padding=p, dilation=d, groups=groups, padding_mode=mode
        ), ()
    if kind == "norm":
        return draw(
            st.sampled_from(
                [
                    nn.BatchNorm2d(c),
                    nn.GroupNorm(2, c),
                    nn.LayerNorm([5, 5]),
                    nn.RMSNorm(5),
                    nn.InstanceNorm2d(c, affine=True),
                ]
            )
        ), ()
    if kind == "act":
        return draw(st.sampled_from(_ACTS))(), ()
    return draw(
        st.sampled_from(
            [
                nn.MaxPool2d(3, 1),
                nn.MaxPool2d(2),
                nn.AvgPool2d(3, 2, padding=1),
                nn.AvgPool2d(2, 1, count_include_pad=False),
                nn.AdaptiveAvgPool2d(2),
                nn.AdaptiveMaxPool2d(3),
            ]
        )
    ), ()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(op=single_ops(), seed=st.integers(0, 10_000), kind=INPUT_KINDS)
def test_single_op_local_norm_within_certified_bound(op: tuple[nn.Module, tuple], seed: int, kind: str) -> None:
    layer, _ = op
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    layer = _randomise(nn.Sequential(layer), gen)
    first = layer[0]
    if isinstance(first, nn.Linear):
        shape: tuple[int, ...] = (3, first.in_features)
    elif isinstance(first, nn.Conv1d):
        shape = (2, first.in_channels, 7)
    elif isinstance(first, nn.Conv3d):
        shape = (1, first.in_channels, 5, 5, 5)
    elif isinstance(first, nn.modules.conv._ConvNd):
        shape = (2, first.in_channels, 5, 5)
    else:
        ch = first.num_features if hasattr(first, "num_features") else getattr(first, "num_channels", 4)
        shape = (2, ch, 5, 5)
    x = adversarial(torch.randn(shape, generator=gen, dtype=torch.float64) * 3, kind)
    bound, local = certified_vs_local(layer, x)
    assert bound is not None
    assert local <= bound * TOL, (layer, local, bound)


@st.composite
def architectures(draw: st.DrawFn) -> tuple[nn.Module, tuple[int, ...]]:
    if draw(st.booleans()):  # MLP
        w = draw(st.integers(2, 10))
        layers: list[nn.Module] = [nn.Linear(6, w)]
        for _ in range(draw(st.integers(1, 4))):
            block = draw(st.sampled_from(["linear", "residual", "concat", "norm", "act"]))
            act = draw(st.sampled_from(_ACTS))()
            if block == "linear":
                layers += [nn.Linear(w, w), act]
            elif block == "residual":
                layers.append(Residual(nn.Linear(w, w), act, nn.Linear(w, w)))
            elif block == "concat":
                a = draw(st.integers(1, w - 1))
                layers.append(Concat(nn.Linear(w, a), nn.Sequential(nn.Linear(w, w - a), act)))
            elif block == "norm":
                layers.append(draw(st.sampled_from([nn.LayerNorm(w), nn.BatchNorm1d(w), nn.RMSNorm(w)])))
            else:
                layers += [act, nn.Dropout(0.3)]
        layers.append(nn.Linear(w, 3))
        return nn.Sequential(*layers), (4, 6)
    c = draw(st.sampled_from([2, 4]))
    layers = [nn.Conv2d(3, c, 3, padding=1)]
    for _ in range(draw(st.integers(1, 3))):
        block = draw(st.sampled_from(["conv", "residual", "bn", "gn", "act"]))
        k = draw(st.sampled_from([1, 3]))
        if block == "conv":
            layers.append(nn.Conv2d(c, c, k, padding=k // 2, dilation=1, groups=draw(st.sampled_from([1, 2]))))
        elif block == "residual":
            layers.append(Residual(nn.Conv2d(c, c, 3, padding=2, dilation=2), draw(st.sampled_from(_ACTS))()))
        elif block == "bn":
            layers.append(nn.BatchNorm2d(c))
        elif block == "gn":
            layers.append(nn.GroupNorm(2, c))
        else:
            layers.append(draw(st.sampled_from(_ACTS))())
    layers += [draw(st.sampled_from([nn.MaxPool2d(2), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1)])), nn.Flatten()]
    size = 6
    out = c * (1 if isinstance(layers[-2], nn.AdaptiveAvgPool2d) else (size // 2) ** 2)
    layers.append(nn.Linear(out, 3))
    return nn.Sequential(*layers), (2, 3, size, size)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arch=architectures(), seed=st.integers(0, 10_000), kind=INPUT_KINDS)
def test_composed_local_norm_within_autolip(arch: tuple[nn.Module, tuple[int, ...]], seed: int, kind: str) -> None:
    model, shape = arch
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    _randomise(model, gen)
    x = adversarial(torch.randn(shape, generator=gen, dtype=torch.float64), kind)
    bound, local = certified_vs_local(model, x)
    assert bound is not None and math.isfinite(bound)
    assert local <= bound * TOL, (model, local, bound)


def test_jacobian_pass_per_module_norms_within_per_op_bounds() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.GroupNorm(2, 4),
        nn.GELU(),
        Residual(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()),
        nn.Flatten(),
        nn.LayerNorm(64),
        nn.Linear(64, 5),
    ).double()
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    g = to_ir(model, x)
    run_passes(
        g,
        ["lipschitz", "jacobian"],
        PassContext(inputs=(x,), model=model, jacobian=JacobianOptions(max_iters=300, tol=1e-10, budget_s=60.0)),
    )
    jac = g.facts["jacobian"]
    checked = 0
    for n in g.nodes:
        j, lip = n.facts.get("jacobian"), n.facts.get("lipschitz")
        if j is not None and lip is not None and lip.bound is not None:
            assert j.norm <= lip.bound * TOL, (n, j.norm, lip.bound)
            checked += 1
    assert checked == 5
    assert jac.model.norm <= g.facts["lipschitz"].upper_bound * TOL


CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def _corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.glob("*.py") if p.name not in ("score.py", "measure.py"))


@pytest.mark.slow
@pytest.mark.parametrize("path", _corpus_files(), ids=lambda p: p.stem)
def test_corpus_local_norm_within_autolip(path: Path) -> None:
    trace = pytest.importorskip("modelcheck.trace.tracers")
    if not hasattr(trace, "trace_model"):
        pytest.skip("modelcheck.trace.trace_model not available yet")
    spec = importlib.util.spec_from_file_location(f"corpus_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    classes = [
        v
        for v in vars(mod).values()
        if isinstance(v, type) and issubclass(v, nn.Module) and v.__module__ == mod.__name__
    ]
    torch.manual_seed(0)
    model = classes[-1]().double().eval()
    inputs = tuple(t.double() if t.is_floating_point() else t for t in mod.example_inputs())
    g = trace.trace_model(model, inputs)
    run_passes(
        g, ["lipschitz", "jacobian"], PassContext(inputs=inputs, model=model, jacobian=JacobianOptions(budget_s=3))
    )
    s, j = g.facts["lipschitz"], g.facts["jacobian"]
    assert j.model is not None
    if s.upper_bound is None:
        assert s.reason
    else:
        assert j.model.norm <= s.upper_bound * TOL
    for n in g.nodes:  # every module's local norm within its own op bound
        jf, lf = n.facts.get("jacobian"), n.facts.get("lipschitz")
        if jf is not None and lf is not None and lf.bound is not None and not lf.method.startswith("fused"):
            if not lf.method.endswith("+bn"):
                assert jf.norm <= lf.bound * TOL, (n, jf.norm, lf.bound)
