"""Importing a user's file and building its models: every failure becomes a one-line error.

The file is imported under a unique module name (never ``__main__``, so its ``if __name__ ==
"__main__":`` block does not run) with its folder on ``sys.path`` for the time of the import, so
sibling imports work. Inside a package (``__init__.py`` next to it) the module also gets its real
``__package__``, so relative imports work. Modules the file imported from its own folder are
forgotten afterwards: the next file, or the next run in the same process, sees fresh copies.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator, Mapping

import torch
from torch import nn

from modelcheck.errors import ConstructorError, ImportFileError, MissingPackageError, WeightsError
from modelcheck.frames import is_installed, where_raised
from modelcheck.load.arguments import required, type_hints
from modelcheck.load.discovery import SourceFile, package_root
from modelcheck.load.modname import plan

_counter = iter(range(1, 1 << 62))


@dataclass(frozen=True)
class Candidate:
    """A model of a file: a class or a factory function, and where it is defined."""

    name: str
    kind: str  # "class" | "function" | "instance" (a module object named with --model) | "build" (configured)
    obj: Any
    line: int | None = None

    def required_args(self, kwargs: Mapping[str, Any]) -> list[str]:
        """Parameters with no default that ``kwargs`` does not give (empty: callable as configured)."""
        return [p.name for p in required(self.obj) if p.name not in kwargs]


# --- where did it happen ------------------------------------------------------------------------


def one_line(exc: BaseException) -> str:
    """``ValueError: bad dim`` — the type and the first line of the message, kept short."""
    try:
        text = str(exc).strip()
    except Exception:  # an exception whose __str__ raises: its type is all there is to say
        text = ""
    text = text.splitlines()[0] if text else ""
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --- importing ----------------------------------------------------------------------------------


@contextlib.contextmanager
def imported(
    src: SourceFile, absolute: frozenset[str] = frozenset(), required: frozenset[str] = frozenset()
) -> Iterator[ModuleType]:
    """Import ``src`` for the time of the ``with`` block (``ImportFileError`` if that raises).

    Under its real dotted name where that is safe (:mod:`modelcheck.load.modname`), with the package
    root, the project root and its folder on ``sys.path``; else under a private name with its real
    ``__package__``. ``absolute``: the top-level packages the file imports (see ``plan``);
    ``required``: those it imports unguarded, all checked when one turns out missing."""
    how = plan(src.path, absolute)
    folder = src.path.parent
    roots = tuple(dict.fromkeys(p.resolve() for p in (folder, *how.path)))
    added = list(dict.fromkeys(str(p) for p in how.path))  # in front even if present further down
    before = set(sys.modules)
    sys.path[:0] = added
    local: list[str] = []
    try:
        try:
            with _no_collection():
                module = _load(src, how.name)
        except BaseException as exc:  # SystemExit, KeyboardInterrupt, ...: the file's, contained
            raise _import_error(src, exc, roots, required) from exc
        finally:
            local += _local_modules(set(sys.modules) - before, roots)
        if module.__name__ not in before:
            local.append(module.__name__)
        yield module
    finally:
        for p in added:
            with contextlib.suppress(ValueError):
                sys.path.remove(p)  # the first occurrence: ours, in front
        for n in local:  # the next file or run must see fresh sibling modules
            sys.modules.pop(n, None)


@contextlib.contextmanager
def _no_collection() -> Iterator[None]:
    """No cyclic garbage collection while the file imports: what its imports make (GPT-2's: ~360k
    objects) lives as long as the lint, and collections during the import only rescan it: GPT-2's
    worker ~0.2 s shorter over 3 alternating pairs. The caller freezes it once imported."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _load(src: SourceFile, name: str | None) -> ModuleType:
    """Import by the real name (the package's own ``__init__`` that imports the file gives the same
    module object), else execute under a private name."""
    if name is not None:
        module = importlib.import_module(name)
        file = getattr(module, "__file__", None)
        if file is not None and Path(file).resolve() == src.path.resolve():
            return module
    _, package = package_root(src.path.parent)
    private = f"modelcheck_user_{next(_counter)}_{src.path.stem if src.path.stem.isidentifier() else 'file'}"
    spec = importlib.util.spec_from_file_location(private, src.path)
    if spec is None or spec.loader is None:
        raise ImportFileError("the file cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    if package:
        module.__package__ = package
    sys.modules[private] = module  # dataclasses, pickling and typing look themselves up here
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(private, None)
        raise
    return module


def _import_error(
    src: SourceFile, exc: BaseException, roots: tuple[Path, ...], required: frozenset[str] = frozenset()
) -> ImportFileError:
    where = where_raised(exc.__traceback__, roots)
    at = f" at {where}" if where else ""
    if isinstance(exc, ModuleNotFoundError) and exc.name and not _is_local(exc.name, roots):
        # every missing package of the file, not only the first one the import met
        missing = sorted({exc.name.partition(".")[0]} | {h for h in required if _absent(h)})
        return MissingPackageError(
            f"missing packages: {', '.join(missing)} (importing the file failed{at}: {one_line(exc)})",
            hint=f"install {', '.join(missing)} or fix the import",
            packages=tuple(missing),
        )
    if isinstance(exc, ImportError):
        what = exc.name or "a module"
        hint = f"install {what} or fix the import" if isinstance(exc, ModuleNotFoundError) else "fix the import"
        return ImportFileError(f"importing the file failed{at}: {one_line(exc)}", hint=hint)
    if isinstance(exc, SystemExit):
        return ImportFileError(
            f"the file called sys.exit() while being imported{at}",
            hint='move script code under `if __name__ == "__main__":`',
        )
    if not isinstance(exc, Exception):
        return ImportFileError(
            f"importing the file raised {one_line(exc)}{at}, which ends a process; modelcheck contained it",
            hint="a model file must not exit or interrupt the process it is imported in",
        )
    return ImportFileError(
        f"importing the file raised{at}: {one_line(exc)}",
        hint="fix the module-level code",
    )


def _absent(head: str) -> bool:
    try:
        return head not in sys.modules and importlib.util.find_spec(head) is None
    except (ImportError, ValueError):
        return True


def _is_local(name: str, roots: tuple[Path, ...]) -> bool:
    """A module of the user's own folders (a typo in a sibling import is not a package to install)."""
    head = name.partition(".")[0]
    return any((r / head).is_dir() or (r / f"{head}.py").is_file() for r in roots)


def _local_modules(names: set[str], roots: tuple[Path, ...]) -> list[str]:
    """The modules among ``names`` loaded from the user's folders (siblings, the user's package)."""
    out = []
    for n in names:
        mod = sys.modules.get(n)
        file = getattr(mod, "__file__", None) or next(iter(getattr(mod, "__path__", None) or []), None)
        if not file or is_installed(file):
            continue  # an installed library, even one living in a venv inside the user's folder
        if n.partition(".")[0] not in ("modelcheck", "modelcheck_rules") and any(
            Path(file).resolve().is_relative_to(r) for r in roots
        ):
            out.append(n)
    return out


# --- choosing and building models ---------------------------------------------------------------


def configure_hint(name: str, needed: list[str], obj: Any = None, module: ModuleType | None = None) -> str:
    """How to give a constructor its arguments. A parameter annotated with a class is built with the
    ``{ call = ... }`` form (a JSON dict would reach the constructor as a dict); the command line's
    JSON is offered only when every value is plain."""
    classes = _annotated_classes(obj, module) if obj is not None else {}
    toml = ", ".join(
        f'{a} = {{ call = "{classes[a]}", kwargs = {{ ... }} }}' if a in classes else f"{a} = ..." for a in needed
    )
    hint = f"set [tool.modelcheck.models.{name}] kwargs = {{ {toml} }} in pyproject.toml"
    if any(a in classes for a in needed):
        return hint + f' (or build = "{name}(...)")'
    js = ", ".join(f'"{a}": ...' for a in needed)
    return hint + f" or pass --model-kwargs '{name}={{{js}}}'"


def _annotated_classes(obj: Any, module: ModuleType | None) -> dict[str, str]:
    """Parameter -> the name of the (non-builtin) class it is annotated with."""
    if module is None:
        return {}
    out = {}
    for param, ann in type_hints(obj, module).items():
        if isinstance(ann, type) and ann.__module__ not in ("builtins", "typing") and not issubclass(ann, (torch.Tensor, nn.Module)):
            out[param] = ann.__name__
    return out


def build(
    cand: Candidate, kwargs: Mapping[str, Any], *, meta: bool, sites: Callable[[], Any], roots: tuple[Path, ...]
) -> tuple[nn.Module, Mapping[int, Any], bool, list[str], Mapping[str, Any]]:
    """Construct the model; returns (model, construction sites, built on meta, notes, init records).

    On the meta device the weights have no values, so the init calls made while building are
    recorded (``modelcheck.load.initrecord``) and returned as parameter name -> InitRecord for the passes.

    ``sites`` is a factory of the site-recording context manager. A real build that runs out of
    memory is retried on the meta device (the passes work from shapes and init statistics).
    """
    notes: list[str] = []
    needed = cand.required_args(kwargs)
    if needed:
        raise ConstructorError(
            f"{cand.name} needs constructor arguments ({', '.join(needed)})",
            hint=configure_hint(cand.name, needed, cand.obj, inspect.getmodule(cand.obj)),
        )
    try:
        model, recorded, inits = _build_once(cand, kwargs, meta, sites, roots)
    except _OutOfMemory as oom:
        if meta:
            raise ConstructorError(f"{cand.name}(): {oom.args[0]}") from None
        notes.append(f"built on the meta device: a real build ran out of memory ({oom.args[0]})")
        model, recorded, inits = _build_once(cand, kwargs, True, sites, roots)
        meta = True
    return model, recorded, meta, notes, inits


class _OutOfMemory(Exception):
    pass


def _build_once(
    cand: Candidate, kwargs: Mapping[str, Any], meta: bool, sites: Callable[[], Any], roots: tuple[Path, ...]
) -> tuple[nn.Module, Mapping[int, Any], Mapping[str, Any]]:
    from modelcheck.load.initrecord import record_init

    torch.manual_seed(0)
    device = torch.device("meta") if meta else contextlib.nullcontext()
    recorder = record_init() if meta else contextlib.nullcontext()
    try:
        with sites() as recorded, device, recorder as rec:
            model = cand.obj(**kwargs)
    except MemoryError as exc:
        raise _OutOfMemory(one_line(exc)) from None
    except Exception as exc:
        if isinstance(exc, RuntimeError) and any(
            s in str(exc) for s in ("not enough memory", "out of memory", "can't allocate memory")
        ):
            raise _OutOfMemory(one_line(exc)) from None
        where = where_raised(exc.__traceback__, roots)
        at = f" at {where}" if where else ""
        raise ConstructorError(
            f"{cand.name}({_kwargs_text(kwargs)}) raised{at}: {one_line(exc)}",
            hint="fix the constructor or its configured kwargs",
        ) from exc
    if not isinstance(model, nn.Module):
        raise ConstructorError(
            f"{cand.name}() returned {type(model).__name__}, not an nn.Module",
            hint="a factory must return the model",
        )
    inits = rec.resolve(model) if rec is not None else {}
    return model, recorded if isinstance(recorded, Mapping) else {}, inits


def _kwargs_text(kwargs: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def check_weights(model: nn.Module) -> None:
    """``WeightsError`` naming the first parameter with NaN or inf values."""
    for name, p in model.named_parameters():
        if p.is_meta or not p.is_floating_point() or p.numel() == 0:
            continue
        lo, hi = torch.aminmax(p.detach())  # one pass, no copy: NaN propagates, ±inf shows at an end
        if torch.isfinite(lo) and torch.isfinite(hi):
            continue
        if not torch.isfinite(p).all():
            kind = "NaN" if torch.isnan(p).any() else "inf"
            bad = int((~torch.isfinite(p)).sum())
            raise WeightsError(
                f"parameter {name!r} holds {kind} values at initialization ({bad} of {p.numel()})",
                hint="check the init code for that parameter",
            )
