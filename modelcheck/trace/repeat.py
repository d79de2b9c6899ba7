"""Repeated blocks traced once: a stack of N identical blocks is traced with its first three and the
graph of the third is replayed for the rest.

Models are stacks of identical blocks (a Llama's 80 decoder layers, GPT-2's 12). Tracing and lowering
them all costs N times one block (``torch.export`` of a 70B Llama: ~8 s of a 13 s lint), yet the graph
of block k+1 is the graph of block k with the paths renumbered. So:

1. Before tracing, :func:`stacks` finds the ``nn.ModuleList`` / ``nn.Sequential`` containers whose
   children are all the same block: same classes, same non-tensor attributes (an attribute equal to
   the block's index, like transformers' ``layer_idx``, counts as the same), same parameter and buffer
   names, shapes and dtypes, no hooks, no parametrizations, no tensor shared with anything outside.
2. :func:`truncated` leaves the first three children in place while the tracer runs; ``len()`` of the
   container still answers N, so a forward that computes with the depth computes with the real one,
   and one that indexes past the third block fails (and is traced in full).
3. :func:`expand` checks that block 2's segment of the node list is block 1's with every reference
   shifted by one block (operands, paths, parameters, shapes, attributes, source lines), then
   replays it for blocks 3..N-1 and reattaches the nodes after the stack to the last block. Anything
   that does not fit (the tail reading an early block, blocks interleaved, a segment that differs)
   answers False and the caller traces the whole model: the fallback is the exact trace.

Only the graph is replayed: every block keeps its own parameters, so the passes read each block's own
weights and report each block under its own path (``layers.37``), and the numbers are those of the full
trace. Node names are given when the graph is assembled, in order, as for a full trace.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterator, Sequence

import torch
from torch import nn
from torch.nn.utils import parametrize

from modelcheck.ir import Node, Op
from modelcheck.trace.lower import Builder, canonical_names

MIN_DEPTH = 6  # below this, three traced blocks save too little to be worth the check
KEEP = 3  # blocks traced: block 0 may read the stem, block 2 is checked against block 1


@dataclass(frozen=True)
class Stack:
    """A container of identical blocks: its path and its children's keys, in order."""

    container: nn.Module
    path: str
    keys: tuple[str, ...]

    def block(self, i: int) -> str:
        return f"{self.path}.{self.keys[i]}" if self.path else self.keys[i]

    def index(self, path: str, blocks: range) -> int | None:
        """Which of ``blocks`` holds ``path`` (the block itself or anything under it)."""
        for i in blocks:
            b = self.block(i)
            if path == b or path.startswith(b + "."):
                return i
        return None

    def moved(self, name: str, blocks: range, by: int) -> str:
        """``name`` (a module path or a parameter's qualified name) moved ``by`` blocks along."""
        i = self.index(name, blocks)
        if i is None:
            return name
        return self.block(i + by) + name[len(self.block(i)):]


def stacks(model: nn.Module, *, min_depth: int | None = None) -> tuple[Stack, ...]:
    """The outermost containers of ``min_depth`` (default :data:`MIN_DEPTH`) or more identical
    blocks (see the module doc)."""
    min_depth = MIN_DEPTH if min_depth is None else min_depth
    names = canonical_names(model)
    found: list[Stack] = []

    def visit(path: str, m: nn.Module) -> None:
        children = [(k, c) for k, c in m._modules.items() if c is not None]
        if isinstance(m, (nn.ModuleList, nn.Sequential)) and len(children) >= min_depth \
                and len(children) == len(m._modules) and _uniform(path, children, names):
            found.append(Stack(m, path, tuple(k for k, _ in children)))
            return
        for k, c in children:
            visit(f"{path}.{k}" if path else k, c)

    visit("", model)
    return tuple(found)


def _uniform(path: str, children: list[tuple[str, nn.Module]], names: dict[int, str]) -> bool:
    if len({id(c) for _, c in children}) != len(children):
        return False  # one block object used several times: it has one set of weights, not N
    # Index attributes (transformers' layer_idx): integers equal to the block's position in the
    # first two blocks; they must be so in every block, every other attribute equal.
    index = _ints(children[0][1], 0) & _ints(children[1][1], 1)
    first = None
    for i, (key, child) in enumerate(children):
        fp = _fingerprint(child, f"{path}.{key}" if path else key, i, index, names)
        if fp is None or (first is not None and fp != first):
            return False
        first = fp
    return True


def _ints(block: nn.Module, value: int) -> set[tuple[str, str]]:
    return {(rel, k) for rel, m in block.named_modules(remove_duplicate=False)
            for k, v in vars(m).items() if type(v) is int and v == value}


def _fingerprint(block: nn.Module, prefix: str, i: int, index: set[tuple[str, str]],
                 names: dict[int, str]) -> Hashable | None:
    """What the trace of ``block`` can depend on, with its own path and index taken out; None when
    something makes blocks unsafe to equate (hooks, parametrizations, tensors shared outside)."""
    items: list[Any] = []
    for rel, m in block.named_modules(remove_duplicate=False):
        if m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks \
                or parametrize.is_parametrized(m):
            return None
        attrs = tuple((k, ("<index>",) if (rel, k) in index and v == i else _key(v))
                      for k, v in sorted(vars(m).items()) if not k.startswith("_") and k != "training")
        items.append((rel, type(m), m.training, attrs))
    for kind, named in (("p", block.named_parameters(remove_duplicate=False)),
                        ("b", block.named_buffers(remove_duplicate=False))):
        for rel, t in named:
            owner = names.get(id(t), "")
            if not owner.startswith(prefix + "."):
                return None  # tied to a tensor outside the block
            items.append((kind, rel, owner[len(prefix) + 1:], tuple(t.shape), t.dtype, t.requires_grad,
                          t.device.type))
    return tuple(items)


_PLAIN = (bool, int, float, complex, str, bytes, type(None), torch.dtype, torch.device, torch.layout)


def _key(v: Any) -> Hashable:
    if isinstance(v, _PLAIN):
        return (type(v), v)
    if isinstance(v, (tuple, list)):
        return (type(v), tuple(_key(x) for x in v))
    if isinstance(v, torch.Tensor):  # a plain tensor attribute: its values may be used as constants
        if v.is_meta or v.numel() > 64:
            return ("obj", id(v))
        return ("tensor", tuple(v.shape), v.dtype, tuple(v.detach().flatten().tolist()))
    if isinstance(v, functools.partial):  # transformers' activations hold one per instance
        return ("partial", _key(v.func), _key(v.args), tuple(sorted((k, _key(x)) for k, x in v.keywords.items())))
    return ("obj", id(v))  # functions, configs, anything else: the same object or not the same


@contextlib.contextmanager
def truncated(found: Sequence[Stack]) -> Iterator[None]:
    """Each stack holds only its first :data:`KEEP` blocks; ``len()`` still answers the real depth."""
    saved = []
    try:
        for s in found:
            c = s.container
            saved.append((c, c.__dict__["_modules"], c.__class__))
            c.__dict__["_modules"] = {k: c._modules[k] for k in s.keys[:KEEP]}
            c.__class__ = _deep(c.__class__, c, len(s.keys))
        yield
    finally:
        for c, mods, cls in reversed(saved):
            c.__class__ = cls
            c.__dict__["_modules"] = mods


def _deep(cls: type, container: nn.Module, depth: int) -> type:
    base_len: Callable[[Any], int] = cls.__len__  # type: ignore[attr-defined]

    def __len__(self: Any) -> int:
        return depth if self is container else base_len(self)

    return type(cls.__name__, (cls,), {"__len__": __len__, "__module__": cls.__module__})


def expand(builder: Builder, found: Sequence[Stack]) -> bool:
    """Replace the builder's nodes for each truncated stack by the whole stack's; False (nodes left
    as they were) when the traced blocks do not show one repeating segment."""
    nodes = builder.nodes
    for s in found:
        out = _expand(nodes, s, builder)
        if out is None:
            return False
        nodes = out
    builder.nodes = nodes  # named when the graph is assembled
    return True


def _expand(nodes: list[Node], s: Stack, builder: Builder) -> list[Node] | None:
    first = range(KEEP)
    starts: list[int] = []
    for i in first:
        at = next((j for j, n in enumerate(nodes) if s.index(n.module_path, first) == i), None)
        if at is None or (starts and at <= starts[-1]):
            return None
        starts.append(at)
    s0, s1, s2 = starts
    step = s2 - s1
    if s1 - s0 != step or s2 + step > len(nodes):
        return None  # block 0 traced differently (it computes something for all), or block 2 cut short
    head, seg0, seg1, seg2 = nodes[:s0], nodes[s0:s1], nodes[s1:s2], nodes[s2:s2 + step]
    tail = nodes[s2 + step:]
    if any(s.index(n.module_path, first) is not None for n in head) \
            or any(s.index(n.module_path, range(2)) is not None for n in tail):
        return None
    # Block 2 must be block 1 moved by one: operands in block 1 -> block 2, in block 0 -> block 1.
    expected = _moved(seg1, {**_at(seg1, seg2), **_at(seg0, seg1)}, s, range(2), 1, builder)
    if expected is None or not all(_same(a, b) for a, b in zip(expected, seg2)):
        return None
    depth = len(s.keys)
    segs = [seg0, seg1, seg2]
    for k in range(KEEP, depth):
        new = _moved(seg2, _at(seg1, segs[-1]), s, range(1, 3), k - 2, builder)
        if new is None:
            return None
        segs.append(new)
    # After the stack: what read block 2 reads the last block; nothing may read blocks 0 or 1.
    early = {id(n) for n in seg0 + seg1}
    if any(id(i) in early for n in tail for i in n.inputs):
        return None
    last = _moved(tail, _at(seg2, segs[-1]), s, range(2, 3), depth - 3, builder)
    if last is None:
        return None
    return head + [n for seg in segs for n in seg] + last


def _at(old: list[Node], new: list[Node]) -> dict[int, Node]:
    """``id(old[i]) -> new[i]``."""
    return {id(n): new[i] for i, n in enumerate(old)}


def _moved(seg: list[Node], refs: dict[int, Node], s: Stack, blocks: range, by: int,
           builder: Builder) -> list[Node] | None:
    """Copies of ``seg`` for the blocks ``by`` further along. An operand is looked up in ``refs``
    (the blocks before), else in the copy itself, else kept (the stem before the stack)."""
    model = builder.model
    out: list[Node] = []
    local = {id(n): i for i, n in enumerate(seg)}
    for n in seg:
        inputs = tuple(refs[id(i)] if id(i) in refs else out[local[id(i)]] if id(i) in local else i
                       for i in n.inputs)
        path = s.moved(n.module_path, blocks, by)
        params = {role: s.moved(q, blocks, by) for role, q in n.params.items()}
        source = n.source
        if n.module_type and path != n.module_path:  # a layer: its own construction line and weights
            try:
                module = model.get_submodule(path)
            except AttributeError:
                return None
            source = builder.site(module, n.source)
            params = builder.params_of(module, path)
        elif n.op is Op.SPLIT and inputs and path != n.module_path and n.source == n.inputs[0].source:
            # a split the builder made points where its layer points; one the tracer lowered (export's
            # getitem of an aten split) keeps its own line: with sites recorded the two differ
            source = inputs[0].source
        target = s.moved(n.target, blocks, by) if n.op is Op.PARAM else n.target
        out.append(Node(n.name, n.op, target, inputs, module_path=path, module_type=n.module_type,
                        source=source, meta=n.meta, params=params, attrs=dict(n.attrs)))
    return out


def _same(a: Node, b: Node) -> bool:
    try:
        return _equal(a, b)
    except RuntimeError:  # an attribute that is a tensor: not comparable, so not the same
        return False


def _equal(a: Node, b: Node) -> bool:
    return (a.op is b.op and a.target == b.target and a.module_path == b.module_path
            and a.module_type == b.module_type and a.source == b.source and a.meta == b.meta
            and dict(a.params) == dict(b.params) and a.attrs == b.attrs and len(a.inputs) == len(b.inputs)
            and all(x is y for x, y in zip(a.inputs, b.inputs)))
