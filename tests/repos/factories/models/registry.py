"""A model registry, as timm-style repositories have: ``@register_model`` records a factory by name."""

from __future__ import annotations

from typing import Any, Callable

_MODELS: dict[str, Callable[..., Any]] = {}


def register_model(fn: Callable[..., Any]) -> Callable[..., Any]:
    if fn.__name__ in _MODELS:
        raise RuntimeError(f"model {fn.__name__} registered twice (was the file imported twice?)")
    _MODELS[fn.__name__] = fn
    return fn
