"""Typed results that passes store on nodes (``node.facts[KEY]``) and on the graph
(``graph.facts[KEY]``). Rules import these types; passes fill them in.
"""

from __future__ import annotations

from typing import NamedTuple

SIGNAL = "signal"


class SignalState(NamedTuple):
    """Predicted mean-field statistics of a node's (primary) output at initialization.

    q  per-coordinate second moment E[h^2] of the output (includes the mean)
    r  covariance between two distinct positions (samples, tokens, pixels), mean included;
       r/q is the correlation that attention and pooling care about
    g  per-coordinate second moment of dL/dh for L = sum(y * u), u ~ N(0, 1) at the model output
    """

    q: float
    r: float
    g: float

    @property
    def rms(self) -> float:
        return self.q**0.5

    @property
    def grad_rms(self) -> float:
        return self.g**0.5

    @property
    def corr(self) -> float:
        return self.r / self.q if self.q > 0 else 0.0


class SignalSummary(NamedTuple):
    """Graph-level result of the signal pass (SPEC §2 numbers and what they were measured between)."""

    forward_gain: float | None
    backward_gain: float | None
    x_node: str | None  # the node whose output is the network input x (input, or first embedding)
    y_node: str | None  # the node whose output is y
    notes: tuple[str, ...] = ()
