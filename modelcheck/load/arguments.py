"""A constructor's or factory's arguments with no configuration, and configured values that build objects.

Required parameters are filled, in this order (configured kwargs always win):

1. a parameter annotated with a config class that builds with no arguments (a dataclass whose fields
   all have defaults, or any plain class whose constructor needs nothing) gets that class's default;
2. an unannotated ``config``/``cfg``/``args``/``params`` parameter gets the class's own
   ``get_default_config()`` (a class- or staticmethod) where it has one, else the file's single config
   dataclass whose fields all have defaults.

Configured values may build objects in the model file's namespace: ``{ call = "GPTConfig", kwargs =
{ n_layer = 4 } }`` calls ``GPTConfig(n_layer=4)`` (nested values are resolved the same way), and a
model's ``build = "GPT(GPTConfig(n_layer=4))"`` is a Python expression that builds the whole model.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import typing
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable, Mapping

from modelcheck.errors import ConfigError

CONFIG_NAMES = frozenset({"config", "cfg", "args", "params", "conf", "model_args", "model_config", "hparams"})
_NOT_CONFIG = (int, float, str, bool, bytes, list, tuple, dict, set, type(None))


@dataclass(frozen=True)
class Arguments:
    """What a call gets: the kwargs to pass, how the defaults were found, what is still missing."""

    kwargs: Mapping[str, Any]
    notes: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()


def required(fn: Callable[..., Any]) -> list[inspect.Parameter]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    return [
        p
        for p in sig.parameters.values()
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


def fill(obj: Callable[..., Any], module: ModuleType, given: Mapping[str, Any]) -> Arguments:
    """Configured ``given`` (resolved) plus defaults for the required parameters it leaves out."""
    kwargs = {k: resolve_value(v, module, k) for k, v in given.items()}
    notes: list[str] = []
    missing: list[str] = []
    hints = type_hints(obj, module)
    for p in required(obj):
        if p.name in kwargs:
            continue
        made = _default_for(p, hints.get(p.name), obj, module)
        if made is None:
            missing.append(p.name)
            continue
        value, how = made
        kwargs[p.name] = value
        notes.append(f"{p.name} = {how}")
    return Arguments(kwargs, tuple(notes), tuple(missing))


def _default_for(
    p: inspect.Parameter, ann: Any, obj: Callable[..., Any], module: ModuleType
) -> tuple[Any, str] | None:
    if isinstance(ann, type) and _config_class(ann):
        value = _try(ann)
        if value is not None:
            return value, f"{ann.__name__}() (its defaults)"
    if ann is not None or p.name not in CONFIG_NAMES:
        return None
    getter = getattr(obj, "get_default_config", None) if isinstance(obj, type) else None
    if callable(getter) and not required(getter):
        value = _try(getter)
        if value is not None:
            return value, f"{obj.__name__}.get_default_config()"  # type: ignore[union-attr]
    configs = [
        c
        for c in vars(module).values()
        if isinstance(c, type) and dataclasses.is_dataclass(c) and c.__module__ == module.__name__ and _config_class(c)
    ]
    if len(configs) == 1:
        value = _try(configs[0])
        if value is not None:
            return value, f"{configs[0].__name__}() (the file's config dataclass, its defaults)"
    return None


def _config_class(cls: type) -> bool:
    """A class that describes a configuration and builds with no arguments (not a tensor, module or
    builtin: those are never defaults a model would want)."""
    import torch

    if issubclass(cls, _NOT_CONFIG) or issubclass(cls, (torch.Tensor, torch.nn.Module)) or cls.__module__ == "builtins":
        return False
    if dataclasses.is_dataclass(cls):
        return all(
            f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            for f in dataclasses.fields(cls)
            if f.init
        )
    return not required(cls)


def _try(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception:  # a default that does not build is simply not a default
        return None


def type_hints(obj: Callable[..., Any], module: ModuleType) -> dict[str, Any]:
    target = obj.__init__ if isinstance(obj, type) else obj  # type: ignore[misc]
    try:
        return typing.get_type_hints(target, globalns=vars(module))
    except Exception:  # an unresolvable annotation: resolve the plain names one by one
        pass
    out: dict[str, Any] = {}
    for name, ann in getattr(target, "__annotations__", {}).items():
        if isinstance(ann, str) and _is_dotted(ann):
            ann = _lookup(ann, module)
        if ann is not None and not isinstance(ann, str):
            out[name] = ann
    return out


def _is_dotted(text: str) -> bool:
    return all(part.isidentifier() for part in text.split("."))


def _lookup(dotted: str, module: ModuleType) -> Any:
    head, *rest = dotted.split(".")
    obj = vars(module).get(head)
    for part in rest:
        obj = getattr(obj, part, None)
    return obj


# --- configured values --------------------------------------------------------------------------


def resolve_value(value: Any, module: ModuleType, where: str) -> Any:
    """``{ call = "GPTConfig", kwargs = {...} }`` -> ``GPTConfig(**kwargs)`` in the file's namespace;
    lists and other tables are resolved item by item; anything else is passed as it is."""
    if isinstance(value, Mapping):
        if "call" in value:
            extra = set(value) - {"call", "kwargs", "args"}
            if extra or not isinstance(value["call"], str) or not _is_dotted(value["call"]):
                raise ConfigError(
                    f"kwargs {where}: a value that builds an object is {{ call = \"Name\", kwargs = {{ ... }} }}",
                    hint="call names a class or function of the model file (dotted names allowed)",
                )
            fn = _lookup(value["call"], module)
            if not callable(fn):
                raise ConfigError(f"kwargs {where}: {value['call']} is not defined in {module.__name__}")
            args = [resolve_value(v, module, where) for v in value.get("args", [])]
            kwargs = {k: resolve_value(v, module, f"{where}.{k}") for k, v in dict(value.get("kwargs", {})).items()}
            return fn(*args, **kwargs)
        return {k: resolve_value(v, module, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_value(v, module, where) for v in value]
    return value


def evaluate(expression: str, module: ModuleType, where: str) -> Any:
    """A configured ``build`` expression, evaluated in the model file's namespace."""
    try:
        code = compile(ast.parse(expression, mode="eval"), f"<{where}>", "eval")
    except SyntaxError as exc:
        raise ConfigError(f"{where}: build = {expression!r} is not a Python expression ({exc.msg})") from None
    return eval(code, dict(vars(module)))  # noqa: S307 - the user's own configuration, like their code
