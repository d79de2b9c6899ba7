"""Loading rules through entry points, and choosing which run (ruff's selection model).

Built-in and third-party rules load the same way (flake8, pytest): every entry point of the group
``modelcheck.rules`` may resolve to

- a :class:`~modelcheck.rule.Rule`;
- a module exposing ``RULE`` (or ``RULES``, an iterable of rules);
- a package: every submodule (recursively) exposing ``RULE``/``RULES`` is collected.

A plugin that fails to import is reported (:attr:`RuleSet.problems`) and the others still run; two
rules with the same code or name are an error, since codes are never reused.

Selection: ``select`` (default ``ALL``) plus ``extend-select``, minus ``ignore``, each a code
(``MC301``), a prefix (``MC3``), a kebab name (``depth-gradient-vanishing``) or ``ALL``. As in ruff,
the more specific selector wins: ``select = ["MC301"]`` with ``ignore = ["MC3"]`` keeps MC301.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import pkgutil
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Iterable, Mapping, Sequence

from modelcheck.diagnostics import Severity
from modelcheck.errors import ConfigError, UsageError
from modelcheck.rule import Rule

GROUP = "modelcheck.rules"

_INTERNAL_DOC = """Internal error (a rule or an analysis crashed).

## What it does
Reports that one of modelcheck's rules or analyses raised an exception on this model. The rest of
the model's rules still ran; only the named one is missing from the report.

## Why is this bad?
It is a bug in modelcheck or in a rule plugin, not in your model: the rule could not give its
verdict, so a problem it looks for may go unreported.

## Example
`internal error in rule MC301 (depth-gradient-vanishing): ZeroDivisionError: float division by zero`

## Use instead
Rerun with `--debug` to see the traceback and report it to the rule's authors (`modelcheck rule
CODE` names the module that defines it). Meanwhile `--ignore CODE` skips the rule.

## References
- ruff reports its own panics as diagnostics in the same way.
"""


def _never(**_: Any) -> Iterable[Any]:
    return ()


INTERNAL_ERROR = Rule(
    code="MC000",
    name="internal-error",
    severity=Severity.ERROR,
    check=_never,
    doc=_INTERNAL_DOC,
    origin=__name__,
)


@dataclass(frozen=True)
class LoadProblem:
    """A rule module or plugin that could not be loaded: where, and the one-line reason."""

    source: str
    message: str


class RuleSet:
    """Every installed rule, sorted by code, plus what went wrong while loading them."""

    def __init__(self, rules: Iterable[Rule], problems: Sequence[LoadProblem] = ()) -> None:
        by_code: dict[str, Rule] = {INTERNAL_ERROR.code: INTERNAL_ERROR}
        by_name: dict[str, Rule] = {INTERNAL_ERROR.name: INTERNAL_ERROR}
        for r in rules:
            for key, table in ((r.code, by_code), (r.name, by_name)):
                other = table.get(key)
                if other is not None and other is not r:
                    raise UsageError(
                        f"rule {key} is defined twice: in {other.origin} and in {r.origin}",
                        hint="rule codes and names must be unique; uninstall or rename one plugin",
                    )
                table[key] = r
        self.all: tuple[Rule, ...] = tuple(sorted(by_code.values(), key=lambda r: r.code))
        self.problems = tuple(problems)
        self._by_code = by_code
        self._by_name = by_name

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The real rules (the internal-error pseudo-rule left out)."""
        return tuple(r for r in self.all if r is not INTERNAL_ERROR)

    def get(self, key: str) -> Rule | None:
        return self._by_code.get(key.upper()) or self._by_name.get(key.lower())

    def _specificity(self, selector: str, r: Rule) -> int | None:
        if selector.upper() == "ALL":
            return 0
        if selector.upper() == r.code or selector.lower() == r.name:
            return 1000
        if r.code.startswith(selector.upper()):
            return len(selector)
        return None

    def _check(self, selectors: Iterable[str], where: str) -> None:
        for s in selectors:
            if not any(self._specificity(s, r) is not None for r in self.rules) and s.upper() != "ALL":
                raise ConfigError(
                    f"unknown rule selector {s!r} in {where}",
                    hint="use a code (MC301), a prefix (MC3), a rule name or ALL; `modelcheck rules` lists them",
                )

    def select(
        self,
        select: Sequence[str] = ("ALL",),
        ignore: Sequence[str] = (),
        extend_select: Sequence[str] = (),
    ) -> tuple[Rule, ...]:
        """The rules enabled by these selectors (``ConfigError`` for a selector matching nothing)."""
        self._check(select, "select")
        self._check(extend_select, "extend-select")
        self._check(ignore, "ignore")
        chosen = []
        for r in self.rules:
            on = max((s for s in (self._specificity(x, r) for x in (*select, *extend_select)) if s is not None), default=None)
            if r.opt_in and not on:
                on = None  # an opt-in rule needs its code, a prefix or its name, not ALL
            off = max((s for s in (self._specificity(x, r) for x in ignore) if s is not None), default=None)
            if on is not None and (off is None or on > off):
                chosen.append(r)
        return tuple(chosen)

    def severities(self, overrides: Sequence[tuple[str, Severity]]) -> dict[str, Severity]:
        """Severity per rule code from ``[tool.modelcheck.severity]``; the most specific key wins."""
        self._check([k for k, _ in overrides], "severity")
        out: dict[str, tuple[int, Severity]] = {}
        for r in self.rules:
            for key, sev in overrides:
                spec = self._specificity(key, r)
                if spec is not None and (r.code not in out or spec >= out[r.code][0]):
                    out[r.code] = (spec, sev)
        return {code: sev for code, (_, sev) in out.items()}

    def check_options(self, options: Mapping[str, Mapping[str, Any]]) -> None:
        """Raise ``ConfigError`` for an options table naming no rule, an unknown key or a wrong type."""
        by_key = {k: r for r in self.rules for k in (r.code, r.name)}
        for key in options:
            if key not in by_key:
                raise ConfigError(f"[tool.modelcheck.options.{key}]: no installed rule has the code or name {key!r}",
                                  hint="`modelcheck rules` lists them")
        for r in self.rules:
            options_for(r, options)


def options_for(r: Rule, options: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any]:
    """Rule ``r``'s options: its declared defaults, then ``[tool.modelcheck.options.NAME]``, then ``.CODE``."""
    for key in (r.name, r.code):  # checked table by table, so that an error names the table it is in
        r.resolve_options(options.get(key, {}), f"[tool.modelcheck.options.{key}]")
    return r.resolve_options({**options.get(r.name, {}), **options.get(r.code, {})})


def load_rules(group: str = GROUP) -> RuleSet:
    """Import every rule registered under the entry-point group ``group``."""
    rules: list[Rule] = []
    problems: list[LoadProblem] = []
    seen: set[tuple[str, str]] = set()
    eps = sorted(importlib.metadata.entry_points(group=group), key=lambda e: (e.name != "builtin", e.name))
    if group == GROUP and not any(ep.name == "builtin" for ep in eps):
        # Run from a checkout whose install did not register metadata: the built-in rules still ship.
        eps.insert(0, importlib.metadata.EntryPoint("builtin", "modelcheck_rules", group))
    for ep in eps:
        if (ep.name, ep.value) in seen:
            continue
        seen.add((ep.name, ep.value))
        source = f"entry point {ep.name!r} ({ep.value})"
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plugin must not take the other rules down
            problems.append(LoadProblem(source, f"cannot import: {type(exc).__name__}: {exc}"))
            continue
        found = _collect(obj, problems)
        if found is None:
            problems.append(
                LoadProblem(source, f"resolved to {type(obj).__name__}, not a Rule, a module with RULE or a package")
            )
            continue
        rules.extend(r for r in found if r not in rules)
    return RuleSet(rules, problems)


def _collect(obj: Any, problems: list[LoadProblem]) -> list[Rule] | None:
    if isinstance(obj, Rule):
        return [obj]
    if not isinstance(obj, ModuleType):
        if isinstance(obj, (list, tuple)) and all(isinstance(r, Rule) for r in obj):
            return list(obj)
        return None
    found = _from_module(obj)
    if hasattr(obj, "__path__"):  # a package: walk it
        def onerror(name: str) -> None:
            problems.append(LoadProblem(f"rule package {name}", "cannot import (see --debug)"))

        for info in pkgutil.walk_packages(obj.__path__, obj.__name__ + ".", onerror=onerror):
            try:
                sub = importlib.import_module(info.name)
            except Exception as exc:
                problems.append(LoadProblem(f"rule module {info.name}", f"cannot import: {type(exc).__name__}: {exc}"))
                continue
            found.extend(r for r in _from_module(sub) if r not in found)
    return found


def _from_module(mod: ModuleType) -> list[Rule]:
    found: list[Rule] = []
    single = getattr(mod, "RULE", None)
    if isinstance(single, Rule):
        found.append(single)
    for r in getattr(mod, "RULES", ()) or ():
        if isinstance(r, Rule) and r not in found:
            found.append(r)
    return found
