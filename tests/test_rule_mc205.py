"""MC205 layernorm-eps-too-small on hand-built graphs: predicted input RMS against 3·sqrt(eps), and
half-precision norms with eps below fp16's smallest subnormal."""

from __future__ import annotations

import pytest
from structure_ir import IR, lint

from modelcheck.diagnostics import Severity
from modelcheck.ir import Graph, TensorMeta


def norm_after(scale: float, eps: float | None, kind: str = "layer", dtype: str = "float32") -> Graph:
    b = IR()
    x = b.input(64)
    h = b.mul(b.linear(x, 64, 64, "fc"), scalar=scale) if scale != 1.0 else b.linear(x, 64, 64, "fc")
    h.meta = TensorMeta(h.meta.shape, dtype)
    n = b.norm(h, kind, eps=eps, path="norm")
    return b.graph(b.linear(n, 64, 8, "head"))


CASES = [
    # (input scale, eps, kind, dtype, warns)
    (1.0, 1e-12, "layer", "float32", False),  # BERT / ViT
    (1.0, 1e-6, "rms", "float32", False),  # Llama
    (0.05, 1e-5, "layer", "float32", False),  # GPT-2's 0.02-scale stream still >> 3 sqrt(eps)
    (1.0, None, "rms", "float32", False),  # RMSNorm(eps=None): finfo(float32).eps
    (1e-4, 1e-5, "layer", "float32", True),  # input RMS ~6e-5 < 9.5e-3
    (1e-9, 1e-12, "layer", "float32", True),
    (1.0, 1e-12, "layer", "float16", True),  # eps rounds to 0 in fp16
    (1.0, 1e-12, "layer", "bfloat16", True),
    (1.0, 1e-5, "layer", "float16", False),
]


@pytest.mark.parametrize(("scale", "eps", "kind", "dtype", "warns"), CASES)
def test_mc205(scale: float, eps: float | None, kind: str, dtype: str, warns: bool) -> None:
    found = [f for f in lint(norm_after(scale, eps, kind, dtype)) if f.rule == "MC205"]
    assert bool(found) is warns, [f.message for f in found]
    for f in found:
        assert f.severity is Severity.WARNING and f.module == "norm"
        assert f.numbers["eps"] == pytest.approx(eps)
        if "input_rms" in f.numbers:
            assert f.numbers["input_rms"] < 3 * eps**0.5


def test_mc205_reports_once_for_many_norms() -> None:
    b = IR()
    h = b.input(64)
    for i in range(6):
        h = b.norm(b.mul(b.linear(h, 64, 64, f"fc.{i}"), scalar=1e-4), eps=1e-5, path=f"norm.{i}")
    found = [f for f in lint(b.graph(h)) if f.rule == "MC205"]
    assert len(found) == 1 and found[0].numbers["norms"] == 6
    assert "5 more" in found[0].message
