"""One finding per root cause (issue 11).

Rules look at the same defect from different sides: a stack of saturating activations (MC103) makes
the relative gradient of the lower layers vanish (MC301), which makes the backward gain collapse
(MC303), along a chain no skip connection bypasses (MC101). Reported separately, one cause reads as
four problems. Here findings of one *family* whose spans of layers overlap become one finding: the
most severe, then most specific, is primary and carries the others as ``related``. It runs after
selection and ``# noqa``, so a suppressed or ignored rule simply is not in the group and the next one
is promoted. Identical findings (rule, module, message) are kept once, and one rule never reports the
same module twice: the worst stays, the rest are attached to it.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Iterable, Sequence

from modelcheck.diagnostics import Finding

# Most specific first: the cause, then its consequences, then the structural condition it needs.
# MC201 (the init scale of a skip-free segment) is a cause as specific as the activations.
FAMILIES: tuple[tuple[str, ...], ...] = (
    ("MC103", "MC201", "MC301", "MC303", "MC101"),  # the gradient vanishes
    ("MC102", "MC201", "MC302", "MC304", "MC101"),  # the signal or the gradient explodes
    ("MC202", "MC303"),  # a zero layer on the main path stops the gradient
)


def _direction(f: Finding) -> int | None:
    """Which family MC101 (its predicted gradient gain across the chain) or MC201 (the segment's gain
    farther from 1) can join: 0 vanishing, 1 exploding, None either."""
    if f.rule == "MC201":
        fwd, bwd = f.numbers.get("forward_gain"), f.numbers.get("backward_gain")
        gains = [g for g in (fwd, bwd) if g is not None and g > 0]
        if not gains:
            return None
        ratio = max(gains, key=lambda g: abs(math.log10(g)))
    else:
        ratio = f.numbers.get("gradient_ratio")
    if ratio is None:
        return None
    return 0 if ratio < 1 else 1


def _families(f: Finding) -> list[int]:
    out = [i for i, codes in enumerate(FAMILIES) if f.rule in codes]
    if f.rule in ("MC101", "MC201"):
        d = _direction(f)
        out = [i for i in out if d is None or d == i]
    return out


def _overlap(a: Finding, b: Finding) -> bool:
    """Spans are graph positions; a finding without one is about the whole model."""
    if a.span is None or b.span is None:
        return True
    return a.span[0] <= b.span[1] and b.span[0] <= a.span[1]


def _rank(f: Finding, family: Sequence[str]) -> tuple[int, int]:
    return (-f.severity.rank, family.index(f.rule))


def _attach(primary: Finding, others: Iterable[Finding]) -> Finding:
    extra = [o for o in others if o is not primary]
    if not extra:
        return primary
    flat: list[Finding] = []
    for o in extra:  # related findings carry no related of their own
        flat.append(replace(o, related=()))
        flat.extend(o.related)
    return replace(primary, related=tuple(primary.related) + tuple(flat))


def dedupe(findings: Sequence[Finding]) -> list[Finding]:
    """Identical findings once; one finding per (rule, module), the others attached to the worst."""
    out: list[Finding] = []
    by_key: dict[tuple[str, str | None], int] = {}
    seen: set[tuple[str, str | None, str]] = set()
    for f in findings:
        ident = (f.rule, f.module, f.message)
        if ident in seen:
            continue
        seen.add(ident)
        key = (f.rule, f.module)
        if f.module is None or key not in by_key:
            by_key.setdefault(key, len(out))
            out.append(f)
            continue
        i = by_key[key]
        keep, other = (out[i], f) if out[i].severity >= f.severity else (f, out[i])
        out[i] = _attach(keep, [other])
    return out


def group(findings: Sequence[Finding]) -> list[Finding]:
    """``findings`` with each root cause reported once (order otherwise kept)."""
    items = dedupe(findings)
    taken: set[int] = set()
    merged: dict[int, Finding] = {}  # primaries, with their group attached
    for fam_index, family in enumerate(FAMILIES):
        members = [i for i, f in enumerate(items) if i not in taken and fam_index in _families(items[i])]
        # connected components of the overlap relation
        while members:
            comp = [members.pop(0)]
            grew = True
            while grew:
                grew = False
                for j in list(members):
                    if any(_overlap(items[j], items[k]) for k in comp):
                        comp.append(j)
                        members.remove(j)
                        grew = True
            if len({items[i].rule for i in comp}) == 1:
                continue  # one rule on several places: separate causes (same-module repeats are deduped)
            primary = min(comp, key=lambda i: _rank(items[i], family))
            others = sorted((i for i in comp if i != primary), key=lambda i: _rank(items[i], family))
            merged[primary] = _attach(items[primary], [items[i] for i in others])
            taken.update(comp)
    # A member of a group goes with it; the primary takes its place.
    return [merged.get(i, f) for i, f in enumerate(items) if i in merged or i not in taken]
