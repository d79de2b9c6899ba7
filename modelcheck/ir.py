"""The graph IR: the one contract between tracing and analysis.

Every tracer (``trace/fx.py``, ``trace/export.py``, ``trace/hooks.py``) lowers a model into a
:class:`Graph` of :class:`Node` records. Passes store typed results on nodes (``node.facts``), rules
read nodes and facts. Nothing downstream of tracing sees ``torch.fx`` or ``torch.export`` objects.

Granularity: one node per leaf ``nn.Module`` call (``Linear``, ``Conv2d``, ``LayerNorm``, ...) or per
tensor function between them (``add``, ``relu``, ``matmul``, ``scaled_dot_product_attention``, views).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Mapping

if TYPE_CHECKING:
    import torch


class Op(str, enum.Enum):
    """What a node computes, as far as signal propagation and the rules care."""

    INPUT = "input"  # a model input (placeholder)
    OUTPUT = "output"  # the model output; inputs = the output tensors, first is the primary one
    PARAM = "param"  # a parameter or buffer used directly as a tensor (ReZero's alpha, pos. emb.)
    CONST = "const"  # a tensor constant created in forward (zeros, arange, masks)
    LINEAR = "linear"  # attrs: in_features, out_features
    CONV = "conv"  # attrs: stride, padding, dilation, groups, transposed (ConvTranspose: True)
    EMBEDDING = "embedding"  # attrs: num_embeddings, padding_idx
    NORM = "norm"  # attrs: kind in {batch, layer, rms, group, instance}, eps, affine, training
    ACTIVATION = "activation"  # attrs: fn (canonical: relu, gelu, gelu_tanh, silu, tanh, sigmoid, ...)
    ADD = "add"  # x + y (residual joins); attrs: alpha for add(x, y, alpha=)
    SUB = "sub"
    MUL = "mul"  # elementwise product; attrs: scalar when one operand is a Python number
    DIV = "div"  # attrs: scalar when the divisor is a Python number
    CONCAT = "concat"  # attrs: dim
    SPLIT = "split"  # chunk / split / unbind / getitem of a tuple output
    MATMUL = "matmul"  # matmul / bmm / einsum of two activations
    SOFTMAX = "softmax"  # attrs: dim, log (log_softmax)
    ATTENTION = "attention"  # scaled_dot_product_attention (inputs q, k, v; attrs: scale, is_causal)
    #                          or a MultiheadAttention module (module_type tells)
    POOL = "pool"  # attrs: kind in {max, avg, adaptive_avg, adaptive_max}, kernel, stride, padding
    REDUCE = "reduce"  # mean / sum over dims; attrs: fn, dims
    RESHAPE = "reshape"  # view/reshape/permute/transpose/flatten/contiguous/expand/slice/index
    PAD = "pad"  # attrs: mode, pad
    UPSAMPLE = "upsample"  # attrs: scale, mode
    DROPOUT = "dropout"  # attrs: p
    RECURRENT = "recurrent"  # LSTM / GRU / RNN modules (opaque to the per-op rules)
    IDENTITY = "identity"
    OTHER = "other"  # anything else; attrs["note"] says what it was


@dataclass(frozen=True)
class SourceLoc:
    """Where a layer was defined (the line that constructed the module) or an op was written."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class TensorMeta:
    shape: tuple[int, ...]
    dtype: str  # e.g. "float32", "int64"

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= int(s)
        return n

    @property
    def is_float(self) -> bool:
        return self.dtype.startswith(("float", "bfloat", "complex"))


@dataclass(eq=False)
class Node:
    """One op of the model. Identity-compared; ``inputs`` are the tensor operands in call order."""

    name: str
    op: Op
    target: str  # what was called, for messages: "Linear", "relu", "aten.add.Tensor", ...
    inputs: tuple[Node, ...] = ()
    module_path: str = ""  # owning module ("" = the root model)
    module_type: str = ""  # class name of the owning (leaf) module, "" for functions
    source: SourceLoc | None = None
    meta: TensorMeta | None = None  # primary (first) output tensor
    params: Mapping[str, str] = field(default_factory=dict)  # role ("weight", ...) -> qualified name
    attrs: dict[str, Any] = field(default_factory=dict)  # op-specific constants (see Op)
    facts: dict[str, Any] = field(default_factory=dict)  # pass results, keyed by the pass name
    users: list[Node] = field(default_factory=list)  # filled in by Graph

    def __repr__(self) -> str:
        where = f" @{self.module_path}" if self.module_path else ""
        return f"Node({self.name}: {self.op.value} {self.target}{where})"

    @property
    def label(self) -> str:
        """The name a person sees: the module path, or the node name for root-level functions."""
        return self.module_path or self.name


@dataclass(frozen=True)
class ModuleInfo:
    """A submodule of the model: its type and where it was constructed."""

    path: str
    type_name: str
    source: SourceLoc | None
    num_parameters: int


class Graph:
    """A traced model: nodes in topological order plus what passes need to read parameters."""

    def __init__(
        self,
        nodes: list[Node],
        *,
        tracer: str,
        parameters: Mapping[str, torch.Tensor],
        buffers: Mapping[str, torch.Tensor] | None = None,
        modules: Mapping[str, ModuleInfo],
        notes: list[str] | None = None,
        training: bool = True,
    ) -> None:
        self.nodes = nodes
        self.tracer = tracer  # "fx" | "export" | "hooks"
        self.parameters = dict(parameters)  # qualified name -> tensor (may live on "meta")
        self.buffers = dict(buffers or {})  # running stats etc., same naming
        self.modules = dict(modules)
        self.notes = list(notes or [])  # what the tracer could not see, for the report
        self.training = training
        self.facts: dict[str, Any] = {}  # graph-level pass results (e.g. "signal" summary)
        self._by_name = {n.name: n for n in nodes}
        for n in nodes:
            n.users = []
        for n in nodes:
            for i in n.inputs:
                i.users.append(n)

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def node(self, name: str) -> Node:
        return self._by_name[name]

    @property
    def inputs(self) -> list[Node]:
        return [n for n in self.nodes if n.op is Op.INPUT]

    @property
    def output(self) -> Node | None:
        outs = [n for n in self.nodes if n.op is Op.OUTPUT]
        return outs[-1] if outs else None

    def of(self, *ops: Op) -> list[Node]:
        return [n for n in self.nodes if n.op in ops]

    def tensor(self, name: str | None) -> torch.Tensor | None:
        """A parameter or buffer by qualified name (parameters first), or None."""
        if not name:
            return None
        t = self.parameters.get(name)
        return t if t is not None else self.buffers.get(name)

    def param(self, node: Node, role: str = "weight") -> torch.Tensor | None:
        return self.tensor(node.params.get(role))

    def source_of(self, node: Node) -> SourceLoc | None:
        """The best line to point a finding at: the node's own, else its module's, else a parent's."""
        if node.source is not None:
            return node.source
        path = node.module_path
        while True:
            info = self.modules.get(path)
            if info is not None and info.source is not None:
                return info.source
            if not path:
                return None
            path = path.rpartition(".")[0]

    @property
    def num_parameters(self) -> int:
        return sum(int(p.numel()) for p in self.parameters.values())
