"""# deliberate-zero-init (MC206)

## What it does
Names the layers that are zero-initialised by design: an output head (DiT's final layer, guided
diffusion's `zero_module` output conv, a zero classifier head), the last layer of a residual branch
(Fixup, `zero_module`, zero-init residual BatchNorm γ) and a zero gate (adaLN-Zero, LayerScale 0,
ReZero α). It is an info, not a defect: the report's gains are predicted with zero-initialised heads
taken at their module's default init ("as if not zero-initialised"), because a zero head makes both
gains exactly 0 and would hide what the rest of the network does.

## Why is this bad?
It is not. A zero head or branch tail still receives a nonzero gradient, so it moves away from zero on
the first step while the network starts as (close to) the identity or a constant; such models train
well. The finding only says which gains are "as if". A zero weight on the main path of a plain
network, with no residual around it, is a different matter (MC202, MC303).

## Example
```python
self.out = nn.Linear(d, p * p * c)
nn.init.zeros_(self.out.weight)   # adaLN-Zero DiT: zero output head
nn.init.zeros_(self.out.bias)
```

## Use instead
Nothing to change; `# noqa: MC206` on the layer's line hides the note.

## References
- Peebles & Xie, "Scalable Diffusion Models with Transformers" (adaLN-Zero), ICCV 2023.
- Goyal et al., "Accurate, Large Minibatch SGD" (zero-init residual γ), 2017.
- Zhang, Dauphin & Ma, "Fixup Initialization", ICLR 2019; Bachlechner et al., "ReZero", 2020.
- Touvron et al., "Going deeper with Image Transformers" (LayerScale), ICCV 2021.
"""

from __future__ import annotations

from typing import Iterator

from modelcheck.ir import Graph
from modelcheck.passes.facts import ZERO_INIT, ZeroInitFact
from modelcheck.rule import Violation, rule

_ROLE_TEXT = {"head": "output head", "residual branch": "last layer of a residual branch", "gate": "gate"}


def check(graph: Graph) -> Iterator[Violation]:
    fact: ZeroInitFact | None = graph.facts.get(ZERO_INIT)
    if fact is None or not fact.layers:
        return
    by_role: dict[str, list[str]] = {}
    for layer in fact.layers:
        by_role.setdefault(layer.role, []).append(layer.label)
    parts = []
    for role, labels in by_role.items():
        shown = ", ".join(labels[:4]) + (f" (+{len(labels) - 4} more)" if len(labels) > 4 else "")
        parts.append(f"{_ROLE_TEXT[role]}{'s' if len(labels) > 1 and role != 'residual branch' else ''}: {shown}")
    heads = list(fact.as_if_labels())
    as_if = (f"; the gains are reported as if {', '.join(heads)} had {'its' if len(heads) == 1 else 'their'} "
             "default init (a zero head makes them exactly 0)") if heads else ""
    first = graph.node(fact.layers[0].node)
    yield Violation(
        f"zero-initialised by design ({'; '.join(parts)}): they still get a gradient and train{as_if}",
        node=first,
        numbers={"layers": float(len(fact.layers)), "heads_as_if_default": float(len(heads))},
    )


RULE = rule(code="MC206", name="deliberate-zero-init", severity="info", requires=("zero_init",))(check)
