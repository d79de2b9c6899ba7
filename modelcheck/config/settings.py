"""Settings: ``[tool.modelcheck]`` in the closest ``pyproject.toml``, then the command line on top.

As in ruff, the closest ``pyproject.toml`` that has a ``[tool.modelcheck]`` table wins (walking up
from the first path linted); configurations are never merged; ``--config PATH`` names one explicitly
(a ``pyproject.toml``, or a TOML file whose top level is the table). Keys are kebab-case::

    [tool.modelcheck]
    select = ["ALL"]                 # codes, prefixes ("MC3"), kebab names, or "ALL"
    ignore = ["MC101"]
    extend-select = []
    per-file-ignores = { "tests/*" = ["MC3"] }
    severity = { MC301 = "warning" }
    fail-on = "error"                # "error" | "warning" | "info"
    format = "text"                  # "text" | "json" | "sarif" | "github"
    exclude = ["tests/fixtures/*"]   # globs skipped when searching folders
    meta = false                     # build models on the meta device
    tracer = "fx"                    # preferred tracer: "fx" | "export" | "hooks"
    bounds = "fast"                  # Lipschitz bounds: "fast" | "tight" (FFT conv bounds, slower)

    [tool.modelcheck.models.Transformer]
    kwargs = { dim = 64, depth = 2 }
    input-shapes = ["int64:8,32"]    # one per positional input, "[dtype:]d0,d1,..."

    [tool.modelcheck.models.GPT]       # values that build objects in the model file's namespace
    kwargs = { config = { call = "GPTConfig", kwargs = { n_layer = 4 } } }
    # or: build = "GPT(GPTConfig(n_layer=4))"   (a Python expression that builds the model)

    [tool.modelcheck.options.MC301]  # per-rule options, by code or name
    threshold = 1e-4

Anything else is a :class:`~modelcheck.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from modelcheck.config.table import (
    ALL_MODELS,
    BOUNDS,
    FORMATS,
    TRACERS,
    InputSpec,
    ModelConfig,
    choice,
    parse_input_shape,
    parse_model_kwargs,
    parse_severity,
    parse_table,
    parse_timeout,
    split_selectors,
)
from modelcheck.diagnostics import Severity
from modelcheck.errors import ConfigError, UsageError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = [
    "ALL_MODELS", "CliOptions", "InputSpec", "ModelConfig", "ProbeSettings", "Settings", "find_config",
    "find_root", "parse_input_shape", "parse_model_kwargs", "read_table", "resolve_settings", "split_selectors",
]  # fmt: skip


@dataclass(frozen=True)
class ProbeSettings:
    """The ``--probe`` flags; ``None`` fields are left to the probe's defaults."""

    device: str | None = None
    steps: int | None = None
    optimizer: str | None = None
    lr: float | None = None
    batch_size: int | None = None
    plot: str | None = None


@dataclass(frozen=True)
class Settings:
    """Everything a lint run needs to know, file and command line merged."""

    root: Path = field(default_factory=Path.cwd)  # project root: cache, per-file-ignores, SARIF
    config_path: Path | None = None
    select: tuple[str, ...] = ("ALL",)
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    severity: tuple[tuple[str, Severity], ...] = ()
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    fail_on: Severity = Severity.ERROR
    format: str = "text"
    exclude: tuple[str, ...] = ()
    meta: bool = False
    tracer: str | None = None
    bounds: str = "fast"
    models: Mapping[str, ModelConfig] = field(default_factory=dict)
    model_names: tuple[str, ...] = ()  # --model
    input_shapes: tuple[InputSpec, ...] = ()  # --input-shape: every model of the run
    probe: ProbeSettings | None = None
    jobs: int = 1
    cache: bool = True
    debug: bool = False
    verbose: bool = False
    timeout: float | None = None  # seconds per model; None: 120, grown with the model's size
    import_scripts: bool = False  # import files whose top level runs code
    all_variants: bool = False  # lint every factory of a class, not only the smallest

    def kwargs_for(self, model: str) -> dict[str, Any]:
        return {**_kw(self.models.get(ALL_MODELS)), **_kw(self.models.get(model))}

    def build_for(self, model: str) -> str | None:
        cfg = self.models.get(model)
        return cfg.build if cfg else None

    def input_shapes_for(self, model: str) -> tuple[InputSpec, ...]:
        if self.input_shapes:
            return self.input_shapes
        cfg = self.models.get(model)
        return cfg.input_shapes if cfg else ()

    def fingerprint(self) -> str:
        """A stable text of every setting that can change a report (the cache key uses it)."""
        skip = {"root", "config_path", "format", "jobs", "cache", "debug", "verbose", "timeout"}
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in skip}
        return json.dumps(data, sort_keys=True, default=_jsonable)


def _kw(cfg: ModelConfig | None) -> Mapping[str, Any]:
    return cfg.kwargs if cfg else {}


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, Path):
        return str(obj)
    return repr(obj)


# --- finding and reading the file ---------------------------------------------------------------


def find_config(start: Path) -> Path | None:
    """The closest ``pyproject.toml`` with a ``[tool.modelcheck]`` table, walking up from ``start``."""
    here = start.resolve()
    if not here.is_dir():
        here = here.parent
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and "modelcheck" in _read_toml(candidate).get("tool", {}):
            return candidate
    return None


def find_root(start: Path) -> Path:
    """The project root when no config names it: the closest folder with ``.git`` or ``pyproject.toml``."""
    here = start.resolve()
    if not here.is_dir():
        here = here.parent
    for folder in (here, *here.parents):
        if (folder / ".git").exists() or (folder / "pyproject.toml").is_file():
            return folder
    return Path.cwd()


def read_table(path: Path) -> dict[str, Any]:
    """The modelcheck table of a config file (``[tool.modelcheck]`` of a pyproject, else the top level)."""
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    doc = _read_toml(path)
    if path.name == "pyproject.toml":
        table = doc.get("tool", {}).get("modelcheck", {})
        return table if isinstance(table, dict) else {}
    return doc


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a TOML file (it is not UTF-8 text)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


# --- merging ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CliOptions:
    """What the command line said; ``None`` means "not given" (the file or the default applies)."""

    config: Path | None = None
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    fail_on: str | None = None
    format: str | None = None
    meta: bool | None = None
    tracer: str | None = None
    bounds: str | None = None
    model_names: tuple[str, ...] = ()
    model_kwargs: tuple[str, ...] = ()
    input_shapes: tuple[str, ...] = ()
    probe: ProbeSettings | None = None
    jobs: int = 1
    cache: bool = True
    debug: bool = False
    verbose: bool = False
    timeout: float | None = None
    import_scripts: bool = False
    all_variants: bool = False


def resolve_settings(paths: Sequence[str], cli: CliOptions = CliOptions()) -> Settings:
    """Find and read the configuration for ``paths`` and put the command line on top of it."""
    start = Path(paths[0]) if paths else Path.cwd()
    config_path = cli.config if cli.config is not None else find_config(start)
    values: dict[str, Any] = {}
    if config_path is not None:
        try:
            values = parse_table(read_table(config_path))
        except ConfigError as exc:
            if str(config_path) in exc.message:
                raise
            raise ConfigError(f"{config_path}: {exc.message}", hint=exc.hint) from None
    root = config_path.resolve().parent if config_path is not None else find_root(start)

    if cli.select is not None:
        values["select"] = cli.select
    values["ignore"] = values.get("ignore", ()) + cli.ignore
    values["extend_select"] = values.get("extend_select", ()) + cli.extend_select
    if cli.fail_on is not None:
        values["fail_on"] = parse_severity(cli.fail_on, "--fail-on")
    if cli.format is not None:
        values["format"] = choice(cli.format, FORMATS, "--format")
    if cli.meta is not None:
        values["meta"] = cli.meta
    if cli.tracer is not None:
        values["tracer"] = choice(cli.tracer, TRACERS, "--tracer")
    if cli.bounds is not None:
        values["bounds"] = choice(cli.bounds, BOUNDS, "--bounds")
    models = dict(values.get("models", {}))
    for name, kwargs in parse_model_kwargs(cli.model_kwargs).items():
        base = models.get(name, ModelConfig())
        models[name] = dataclasses.replace(base, kwargs={**base.kwargs, **kwargs})
    values["models"] = models
    if cli.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {cli.jobs}")
    if cli.timeout is not None:
        values["timeout"] = parse_timeout(cli.timeout, "--timeout")
    cache_off = os.environ.get("MODELCHECK_NO_CACHE", "") not in ("", "0")
    return Settings(
        root=root,
        config_path=config_path,
        model_names=cli.model_names,
        input_shapes=tuple(parse_input_shape(s) for s in cli.input_shapes),
        probe=cli.probe,
        jobs=cli.jobs,
        cache=cli.cache and not cache_off,
        debug=cli.debug,
        verbose=cli.verbose,
        import_scripts=cli.import_scripts,
        all_variants=cli.all_variants,
        **values,
    )
