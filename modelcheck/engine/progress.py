"""How a worker tells the parent where it is (the parent's timeout is per model and sized from it).

The engine calls :func:`report` at each stage of a file; in a worker, :data:`sink` sends the event to
the parent; in-process (tests, the API) nothing listens. Events: ``model`` (a model starts: its
name) and ``built`` (its parameter count, known after the build).
"""

from __future__ import annotations

from typing import Any, Callable

sink: Callable[[dict[str, Any]], None] | None = None


def report(kind: str, **data: Any) -> None:
    if sink is not None:
        sink({"kind": kind, **data})
