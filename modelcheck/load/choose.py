"""Which models of an imported file to lint (SPEC §1, extended by issue 10), with no configuration.

Candidates are the ``nn.Module`` classes defined in the file whose constructor can be called once
config arguments are filled (:mod:`modelcheck.load.arguments`), and the public module-level functions
with no required parameters that build a model (return-annotated as one, or whose ``return`` builds an
``nn.Module`` class of the file, decided on the AST: nothing else is ever called). Then:

- only top-level models: a class that another class or factory of the file uses (blocks, attention,
  MLPs, norms) is a part, not a model, and gets no skip line; where the file has models with
  parameters, a parameter-free module is not a model either;
- variants: a class and the factories that build it are one model; the smallest (by parameter count,
  counted on the meta device) is linted, every one with ``--all-variants``;
- a top-level class that cannot be built is a skip, reported in one line per file.

Each choice carries its meta parameter count, so the build can decide to stay on the meta device.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import typing
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from modelcheck.diagnostics import FileMessage, Severity
from modelcheck.load.arguments import Arguments, evaluate, fill, required
from modelcheck.load.build import Candidate, configure_hint
from modelcheck.load.toplevel import factory_targets


@dataclass(frozen=True)
class Choice(Candidate):
    """A model to lint: the :class:`~modelcheck.load.build.Candidate` it builds (``kind`` may also be
    "build", a configured expression), with which arguments, and what it builds."""

    arguments: Arguments = field(default_factory=lambda: Arguments({}))
    builds: str | None = None  # the class it builds: its variants share this
    meta_parameters: int | None = None  # counted on the meta device (None: that build failed)
    meta_bytes: int | None = None


@dataclass(frozen=True)
class Skipped:
    name: str
    missing: tuple[str, ...]


@dataclass(frozen=True)
class Chosen:
    models: tuple[Choice, ...]
    skipped: tuple[Skipped, ...] = ()
    missing_names: tuple[str, ...] = ()  # --model names the file lacks
    variants_left: tuple[str, ...] = ()  # variants not linted (--all-variants lints them)


def memory_budget() -> int:
    """Bytes of weights a real build may take: half the memory available now (``MemAvailable``)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 2
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: never refuse a build


class _NoInit(TorchFunctionMode):
    """In-place fills and random draws are no-ops while counting: on meta they compute nothing, but
    the first ``normal_`` of a process loads torch's Python reference kernels (~1 s)."""

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = getattr(func, "__name__", "")
        if name in _INIT_OPS and args and isinstance(args[0], torch.Tensor) and args[0].is_meta:
            return args[0]
        return func(*args, **(kwargs or {}))


_INIT_OPS = frozenset({
    "normal_", "uniform_", "zero_", "fill_", "copy_", "trunc_normal_", "exponential_", "bernoulli_",
    "random_", "clamp_", "mul_", "div_", "add_", "sub_", "erfinv_", "orthogonal_",
})  # fmt: skip


def meta_count(obj: Callable[..., Any], kwargs: Mapping[str, Any]) -> tuple[int, int] | None:
    """(parameters, bytes) of what ``obj(**kwargs)`` builds, built on the meta device (no memory)."""
    try:
        with torch.device("meta"), _NoInit():
            model = obj(**kwargs)
    except Exception:  # constructors that compute on tensors (``.item()``) cannot run on meta
        return None
    if not isinstance(model, nn.Module):
        return None
    params = list(model.parameters())
    return sum(int(p.numel()) for p in params), sum(int(p.numel()) * p.element_size() for p in params)


def choose(
    module: ModuleType,
    *,
    uses: Mapping[str, frozenset[str]],
    returns: Mapping[str, frozenset[str]],
    lines: Mapping[str, int],
    kwargs_for: Callable[[str], Mapping[str, Any]],
    build_for: Callable[[str], str | None] = lambda name: None,
    names: Sequence[str] = (),
    all_variants: bool = False,
) -> Chosen:
    if names:
        return _named(module, names, lines, kwargs_for, build_for)
    own = {n: o for n, o in vars(module).items() if getattr(o, "__module__", None) == module.__name__}
    classes = {n: o for n, o in own.items() if isinstance(o, type) and issubclass(o, nn.Module)}
    is_model = {n: isinstance(o, type) and issubclass(o, nn.Module) for n, o in vars(module).items()}
    functions = [n for n, o in own.items() if inspect.isfunction(o) and not n.startswith("_")]
    targets = factory_targets(returns, functions, is_model)
    factories: dict[str, frozenset[str]] = {}
    for n in functions:
        fn = own[n]
        if required(fn) and not kwargs_for(n):
            continue
        if targets.get(n) or _returns_module(fn):
            factories[n] = targets.get(n, frozenset())
    users = {**{c: uses.get(c, frozenset()) for c in classes}, **{f: uses.get(f, frozenset()) for f in factories}}
    parts = {c for c in classes for user, used in users.items() if user != c and c in used and not _builds(factories, user, c)}

    choices: list[Choice] = []
    skipped: list[Skipped] = []
    covered = {t for ts in factories.values() for t in ts}
    for n, cls in classes.items():
        if n in parts:
            continue
        expr = build_for(n)
        if expr is not None:
            choices.append(_counted(Choice(n, "build", _builder(expr, module, n), lines.get(n), builds=n)))
            continue
        args = fill(cls, module, kwargs_for(n))
        if args.missing:
            if n not in covered:
                skipped.append(Skipped(n, args.missing))
            continue
        choices.append(_counted(Choice(n, "class", cls, lines.get(n), args, builds=n)))
    for n, built in factories.items():
        args = fill(own[n], module, kwargs_for(n))
        if args.missing:
            continue
        key = next(iter(built)) if len(built) == 1 else n
        choices.append(_counted(Choice(n, "function", own[n], lines.get(n), args, builds=key)))

    if any(c.meta_parameters for c in choices):  # parameter-free modules are helpers of the real models
        choices = [c for c in choices if c.meta_parameters != 0]
    kept, left = _variants(choices, all_variants)
    kept.sort(key=lambda c: c.line if c.line is not None else 1 << 30)
    return Chosen(tuple(kept), tuple(skipped), (), tuple(left))


def choose_models(module: ModuleType, job: Any, settings: Any) -> Chosen:
    """:func:`choose` with a file job's AST facts and the run's settings."""
    return choose(
        module,
        uses=job.scan.uses,
        returns=job.scan.returns,
        lines=job.scan.lines,
        kwargs_for=settings.kwargs_for,
        build_for=settings.build_for,
        names=job.names,
        all_variants=settings.all_variants,
    )


def skip_messages(display: str, module: ModuleType, chosen: Chosen, *, verbose: bool) -> list[FileMessage]:
    """One line per file for the top-level classes that were not linted: with how to configure it
    when there is one (or with ``--verbose``), else the names and what each needs."""
    if not chosen.skipped:
        return []
    if verbose or len(chosen.skipped) == 1:
        return [
            FileMessage(
                display,
                Severity.INFO,
                f"skipped {s.name}: its constructor needs arguments ({', '.join(s.missing)}); "
                + configure_hint(s.name, list(s.missing), getattr(module, s.name, None), module),
                skipped=(s.name,),
                skip=True,
            )
            for s in chosen.skipped
        ]
    parts = ", ".join(f"{s.name} ({', '.join(s.missing)})" for s in chosen.skipped)
    return [
        FileMessage(
            display,
            Severity.INFO,
            f"skipped {parts}: constructor arguments needed (--verbose says how to give them)",
            skipped=tuple(s.name for s in chosen.skipped),
            skip=True,
        )
    ]


def _builder(expr: str, module: ModuleType, name: str) -> Callable[[], Any]:
    """A configured ``build`` expression as a factory with no parameters."""
    return lambda: evaluate(expr, module, f"[tool.modelcheck.models.{name}] build")


def _builds(factories: Mapping[str, frozenset[str]], user: str, cls: str) -> bool:
    """A factory building ``cls`` is its variant, not its user."""
    return cls in factories.get(user, frozenset())


def _counted(choice: Choice) -> Choice:
    counted = meta_count(choice.obj, choice.arguments.kwargs)
    if counted is None:
        return choice
    return dataclasses.replace(choice, meta_parameters=counted[0], meta_bytes=counted[1])


def _variants(choices: list[Choice], all_variants: bool) -> tuple[list[Choice], list[str]]:
    if all_variants:
        return choices, []
    groups: dict[str, list[Choice]] = {}
    for c in choices:
        groups.setdefault(c.builds or c.name, []).append(c)
    kept: list[Choice] = []
    left: list[str] = []
    for members in groups.values():
        best = min(members, key=lambda c: (c.meta_parameters if c.meta_parameters is not None else 1 << 62, c.line or 0))
        kept.append(best)
        left += [c.name for c in members if c is not best]
    return kept, left


def _named(
    module: ModuleType,
    names: Sequence[str],
    lines: Mapping[str, int],
    kwargs_for: Callable[[str], Mapping[str, Any]],
    build_for: Callable[[str], str | None],
) -> Chosen:
    """``--model NAME``: exactly those, built with configured or default arguments (a missing
    argument is then the user's error, reported by the build)."""
    found: list[Choice] = []
    missing: list[str] = []
    for n in names:
        obj = getattr(module, n, None)
        expr = build_for(n)
        if expr is not None:
            found.append(_counted(Choice(n, "build", _builder(expr, module, n), lines.get(n))))
        elif isinstance(obj, type) and issubclass(obj, nn.Module):
            found.append(_counted(Choice(n, "class", obj, lines.get(n), fill(obj, module, kwargs_for(n)))))
        elif isinstance(obj, nn.Module):  # `model = Net()` at module level: lint that instance
            found.append(Choice(n, "instance", lambda obj=obj: obj, lines.get(n)))
        elif callable(obj):
            found.append(_counted(Choice(n, "function", obj, lines.get(n), fill(obj, module, kwargs_for(n)))))
        else:
            missing.append(n)
    return Chosen(tuple(found), (), tuple(missing))


def _returns_module(fn: Callable[..., Any]) -> bool:
    try:
        ann = typing.get_type_hints(fn).get("return")
    except Exception:  # an unresolvable string annotation: not a factory we can vouch for
        return False
    return isinstance(ann, type) and issubclass(ann, nn.Module)
