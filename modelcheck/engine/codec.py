"""Reports as plain JSON data: how results cross from a worker to the parent and lie in the cache.

Data only, never code: a value decodes into one of a fixed list of record types (the frozen
dataclasses and enums of :mod:`modelcheck.diagnostics`, :data:`TYPES`), tuples, dicts, strings, numbers, booleans and null. An
unknown type name, a field the record does not have or a malformed value raises
:class:`DecodeError`, which callers treat as "no result" (the cache: a miss; a worker: a crash).
Nothing is imported while decoding: the parent stays free of torch and of the user's code.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from typing import Any

from modelcheck import diagnostics

# Every record and enum the report is made of (diagnostics' own, so a new field's type is covered).
TYPES: dict[str, type] = {
    name: obj
    for name, obj in vars(diagnostics).items()
    if isinstance(obj, type) and obj.__module__ == diagnostics.__name__
    and (dataclasses.is_dataclass(obj) or issubclass(obj, enum.Enum))
}
_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class DecodeError(ValueError):
    """The data is not a value :func:`decode` can rebuild."""


def encode(value: Any) -> Any:
    """``value`` as JSON-ready data. Objects of other types become their ``repr`` (reports only
    hold records, so that is a note rather than a loss)."""
    if isinstance(value, enum.Enum):  # before str and int: Severity is a str enum
        if type(value).__name__ in TYPES:
            return {"!e": type(value).__name__, "v": encode(value.value)}
        return encode(value.value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"!f": str(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = type(value).__name__
        fields = {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if name in TYPES:
            return {"!r": name, "f": fields}
        return {"!m": [[k, v] for k, v in fields.items()]}  # an unknown record: its fields, as a dict
    if isinstance(value, tuple):
        return {"!t": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {"!m": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, (set, frozenset)):
        return {"!t": [encode(v) for v in sorted(value, key=repr)]}
    try:  # numpy/torch scalars and the like
        return encode(float(value))
    except (TypeError, ValueError):
        return repr(value)


def decode(data: Any) -> Any:
    """The value :func:`encode` was given (records rebuilt; unknown records as dicts)."""
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict) or len(data) not in (1, 2):
        raise DecodeError(f"unexpected {type(data).__name__}")
    try:
        if "!t" in data:
            return tuple(decode(v) for v in data["!t"])
        if "!m" in data:
            return {_hashable(decode(k)): decode(v) for k, v in data["!m"]}
        if "!f" in data:
            return _FLOATS[data["!f"]]
        if "!e" in data:
            return _type(data["!e"], enum.Enum)(decode(data["v"]))
        if "!r" in data:
            cls = _type(data["!r"], object)
            fields = {k: decode(v) for k, v in data["f"].items()}
            return cls(**fields)
    except DecodeError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise DecodeError(f"malformed value: {type(exc).__name__}: {exc}") from None
    raise DecodeError(f"unknown tag {sorted(data)}")


def _type(name: Any, base: type) -> Any:
    cls = TYPES.get(name) if isinstance(name, str) else None
    if cls is None or not issubclass(cls, base) or not (issubclass(cls, enum.Enum) or dataclasses.is_dataclass(cls)):
        raise DecodeError(f"unknown record type {name!r}")
    return cls


def _hashable(key: Any) -> Any:
    if isinstance(key, list):
        return tuple(key)
    return key


def dumps(value: Any) -> str:
    return json.dumps(encode(value), separators=(",", ":"), sort_keys=False)


def loads(text: str | bytes) -> Any:
    try:
        return decode(json.loads(text))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise DecodeError(f"not JSON: {exc}") from None
