"""The σ_max questions the lipschitz pass will ask, read off the module tree before any trace (issue 14).

The engine hands them to :class:`~modelcheck.numerics.ahead.Ahead` right after the build, so their
certificates are computed while the inputs are checked and the model traced. Only what the pass asks
with the parameter itself: a Linear's or Conv1D's weight as a ``[1, rows, cols]`` matrix (within the
Gram budget of :func:`~modelcheck.numerics.spectral.matrix_bound`) and a conv's reshape matrix
``[groups, out/groups, in/groups·k]`` (:func:`~modelcheck.numerics.conv_bounds.conv_bound`'s bound (b)),
and a Linear weight over the Gram budget (a tied LM head) for its Frobenius/Schur bound.
A BatchNorm folded with unequal channel scales, an FFT, a matmul with a constant: asked by the pass
alone. A guess that turns out wrong costs background time, never a number.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from modelcheck.ir import Op
from modelcheck.layers import module_spec
from modelcheck.numerics import spectral


class Questions(NamedTuple):
    gram: list[torch.Tensor]  # [b, m, n] batches, one Gram certificate each
    cheap: list[torch.Tensor]  # 2-D weights over the Gram budget: the Frobenius/Schur bound


def questions(model: Any) -> Questions:
    out: list[torch.Tensor] = []
    cheap: list[torch.Tensor] = []
    for _, mod in model.named_modules():
        w = mod._parameters.get("weight")  # registered, not computed (parametrizations, weight_norm hooks)
        if not isinstance(w, torch.Tensor) or w.is_meta or w.dim() < 2 or w.numel() == 0:
            continue
        if not w.is_floating_point() and not w.is_complex():
            continue
        op, attrs = module_spec(mod)
        w = w.detach()
        if op is Op.LINEAR or (op is Op.OTHER and attrs.get("note") == "Conv1D"):
            rows, cols = int(w.shape[0]), int(w.numel() // max(int(w.shape[0]), 1))
            if 2.0 * rows * cols * min(rows, cols) <= spectral.FLOP_BUDGET:
                out.append(w.reshape(rows, cols)[None])  # as matrix_bound asks: the same view, the same key
            else:
                cheap.append(w.reshape(rows, cols))
        elif op is Op.CONV and w.dim() >= 3:
            g = max(int(attrs.get("groups", getattr(mod, "groups", 1)) or 1), 1)
            if w.shape[0] % g == 0:
                out.append(w.reshape(g, int(w.shape[0]) // g, -1))
    return Questions(out, cheap)
