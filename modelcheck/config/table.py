"""Validating configuration values: the ``[tool.modelcheck]`` table and the command-line strings.

Every malformed value becomes a one-line ``ConfigError`` (from the file) or ``UsageError`` (from a
flag) that names the key or flag and shows the expected form. :mod:`modelcheck.config.settings` documents the
keys and merges the validated values into :class:`~modelcheck.config.settings.Settings`.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from modelcheck.diagnostics import Severity
from modelcheck.errors import ConfigError, UsageError

FORMATS = ("text", "json", "sarif", "github")
TRACERS = ("fx", "export", "hooks")
BOUNDS = ("fast", "tight")  # Lipschitz bound effort: see modelcheck.passes.lipschitz.compose
DTYPES = {
    "float32": "float32", "float": "float32", "f32": "float32",
    "float64": "float64", "double": "float64", "f64": "float64",
    "float16": "float16", "half": "float16", "f16": "float16",
    "bfloat16": "bfloat16", "bf16": "bfloat16",
    "int64": "int64", "long": "int64", "int32": "int32", "int": "int64",
    "bool": "bool",
}  # fmt: skip
TOP_KEYS = (
    "select", "ignore", "extend-select", "per-file-ignores", "severity", "fail-on", "format",
    "exclude", "meta", "tracer", "bounds", "models", "options", "timeout",
)  # fmt: skip
MAX_INPUT_ELEMENTS = 1 << 31  # one example input larger than this (8 GiB of float32) is a typo
MODEL_KEYS = ("kwargs", "input-shapes", "build")
ALL_MODELS = "*"  # key of kwargs given on the command line without a model name


@dataclass(frozen=True)
class InputSpec:
    """One positional example input to synthesise: a shape and a dtype name."""

    shape: tuple[int, ...]
    dtype: str = "float32"

    def __str__(self) -> str:
        dims = ",".join(map(str, self.shape))
        return dims if self.dtype == "float32" else f"{self.dtype}:{dims}"


@dataclass(frozen=True)
class ModelConfig:
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    input_shapes: tuple[InputSpec, ...] = ()
    build: str | None = None  # a Python expression that builds the model, in the file's namespace


def parse_table(table: Mapping[str, Any], where: str = "[tool.modelcheck]") -> dict[str, Any]:
    """Validate a config table into :class:`Settings` field values (``ConfigError`` on anything odd)."""
    _check_keys(table, TOP_KEYS, where)
    out: dict[str, Any] = {}
    for key in ("select", "ignore", "extend-select", "exclude"):
        if key in table:
            out[key.replace("-", "_")] = tuple(_str_list(table[key], f"{where} {key}"))
    if "per-file-ignores" in table:
        pfi = _table(table["per-file-ignores"], f"{where} per-file-ignores")
        out["per_file_ignores"] = tuple(
            (glob, tuple(_str_list(codes, f"{where} per-file-ignores.{glob!r}")))
            for glob, codes in pfi.items()
        )
    if "severity" in table:
        sev = _table(table["severity"], f"{where} severity")
        out["severity"] = tuple((k, parse_severity(v, f"{where} severity.{k}")) for k, v in sev.items())
    if "fail-on" in table:
        out["fail_on"] = parse_severity(table["fail-on"], f"{where} fail-on")
    if "format" in table:
        out["format"] = choice(table["format"], FORMATS, f"{where} format")
    if "tracer" in table:
        out["tracer"] = choice(table["tracer"], TRACERS, f"{where} tracer")
    if "bounds" in table:
        out["bounds"] = choice(table["bounds"], BOUNDS, f"{where} bounds")
    if "meta" in table:
        if not isinstance(table["meta"], bool):
            raise ConfigError(f"{where} meta must be true or false, not {table['meta']!r}")
        out["meta"] = table["meta"]
    if "timeout" in table:
        out["timeout"] = parse_timeout(table["timeout"], f"{where} timeout")
    if "options" in table:
        opts = _table(table["options"], f"{where[:-1]}.options]")
        out["options"] = {k: dict(_table(v, f"{where[:-1]}.options.{k}]")) for k, v in opts.items()}
    if "models" in table:
        models = _table(table["models"], f"{where[:-1]}.models]")
        out["models"] = {name: _model(cfg, f"{where[:-1]}.models.{name}]") for name, cfg in models.items()}
    return out


def _model(cfg: Any, where: str) -> ModelConfig:
    cfg = _table(cfg, where)
    _check_keys(cfg, MODEL_KEYS, where)
    kwargs = dict(_table(cfg.get("kwargs", {}), f"{where} kwargs"))
    shapes = cfg.get("input-shapes", [])
    if not isinstance(shapes, list):
        raise ConfigError(f"{where} input-shapes must be a list like [\"8,3,32,32\"]")
    try:
        specs = tuple(
            parse_input_shape(s if isinstance(s, str) else ",".join(map(str, s)), f"{where} input-shapes")
            for s in shapes
        )
    except UsageError as exc:  # the same words as on the command line, but a config error
        raise ConfigError(exc.message, hint=exc.hint) from None
    build = cfg.get("build")
    if build is not None and (not isinstance(build, str) or not build.strip()):
        raise ConfigError(f"{where} build must be a Python expression in a string, like \"GPT(GPTConfig())\"")
    if build is not None and "kwargs" in cfg:
        raise ConfigError(f"{where} has both build and kwargs", hint="build is the whole call: put the arguments in it")
    return ModelConfig(kwargs=kwargs, input_shapes=specs, build=build)


def _check_keys(table: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key.replace("_", "-"), allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(allowed)}"
            raise ConfigError(f"unknown key {key!r} in {where}", hint=hint)


def _table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table, not {type(value).__name__}")
    return value


def _str_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings")
    return value


def choice(value: Any, choices: Sequence[str], where: str) -> str:
    if value not in choices:
        raise ConfigError(f"{where} must be one of {', '.join(choices)}, not {value!r}")
    return str(value)


def parse_severity(value: Any, where: str) -> Severity:
    try:
        return Severity(str(value).lower())
    except ValueError:
        raise ConfigError(f"{where} must be \"error\", \"warning\" or \"info\", not {value!r}") from None


def parse_input_shape(text: str, where: str = "--input-shape") -> InputSpec:
    """``"8,3,32,32"`` -> float32 (8, 3, 32, 32); ``"int64:8,32"`` -> int64 (8, 32)."""
    dtype, _, dims = text.strip().rpartition(":")
    dtype = dtype.strip().lower() or "float32"
    if dtype not in DTYPES:
        raise UsageError(f"{where}: unknown dtype {dtype!r} in {text!r}", hint=f"use one of {', '.join(sorted(set(DTYPES.values())))}")
    dims = dims.strip().strip("()[]").strip().rstrip(",")
    shape = tuple(int(d) for d in re.split(r"\s*[,x]\s*", dims)) if re.fullmatch(r"\d+(\s*[,x]\s*\d+)*", dims) else ()
    if not shape:
        raise UsageError(f"{where}: cannot read the shape {text!r}", hint="write it like 8,3,32,32 or int64:8,32")
    if math.prod(shape) > MAX_INPUT_ELEMENTS:
        raise UsageError(
            f"{where}: the shape {text!r} has {math.prod(shape):,} elements, more than an example input needs",
            hint=f"a small batch is enough (at most {MAX_INPUT_ELEMENTS:,} elements)",
        )
    return InputSpec(shape, DTYPES[dtype])


def parse_timeout(value: Any, where: str) -> float:
    """Seconds per model: a positive number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"{where} must be a positive number of seconds, not {value!r}")
    return float(value)


def parse_model_kwargs(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``Name={"dim": 64}`` -> {"Name": {"dim": 64}}; a bare ``{"dim": 64}`` applies to every model."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        text = item.strip()
        name, payload = (ALL_MODELS, text) if text.startswith("{") else text.partition("=")[::2]
        try:
            value = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"--model-kwargs {item!r}: not JSON ({exc.msg})",
                hint="write it like 'Net={\"dim\": 64}'",
            ) from None
        if not name.strip() or not isinstance(value, dict):
            raise UsageError(f"--model-kwargs {item!r}: expected NAME={{...}} with a JSON object")
        out.setdefault(name.strip(), {}).update(value)
    return out


def split_selectors(values: Sequence[str] | None) -> tuple[str, ...]:
    """``["MC1,MC301", "ALL"]`` -> ("MC1", "MC301", "ALL")."""
    return tuple(v.strip() for item in values or () for v in item.split(",") if v.strip())
