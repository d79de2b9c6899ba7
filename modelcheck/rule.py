"""What a rule is: metadata, documentation and a check function.

A rule lives in a module of its own (``rules/<family>/<rule>.py``) whose docstring *is* its
documentation (What it does / Why is this bad? / Example / Use instead / References). The module
exposes ``RULE = rule(code=..., name=..., severity=..., requires=(...))(check)``.

The check receives only what it asks for, by parameter name (flake8's convention):

- ``graph``   the traced :class:`~modelcheck.ir.Graph`, with pass results on its nodes;
- ``options`` this rule's options: every option the rule declares (``rule(options={"warn-depth": 10})``,
  the default's type is the option's type), with ``[tool.modelcheck.options.CODE]`` applied on top and
  checked when the configuration is read (a wrong type or an unknown key is a configuration error);
- ``ctx``     the :class:`RuleContext` (model name, file, ...).

It yields :class:`Violation` records; the engine turns them into findings (adding code, name,
location, severity overrides and ``# noqa`` suppression).
"""

from __future__ import annotations

import inspect
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from modelcheck.diagnostics import RuleMeta, Severity
from modelcheck.errors import ConfigError
from modelcheck.ir import Graph, Node

CODE_RE = re.compile(r"^[A-Z]{1,4}[0-9]{3,4}$")
NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
DOC_SECTIONS = ("What it does", "Why is this bad?", "Example", "Use instead", "References")
CHECK_PARAMS = ("graph", "options", "ctx")


@dataclass(frozen=True)
class Violation:
    """What a check yields. ``severity=None`` means the rule's (possibly overridden) default."""

    message: str
    node: Node | None = None
    module: str | None = None  # overrides node.module_path
    severity: Severity | None = None
    fix: str | None = None
    numbers: Mapping[str, float] = field(default_factory=dict)
    span: tuple[Node, Node] | None = None  # first and last layer the cause spans (None: the whole model)


@dataclass(frozen=True)
class RuleContext:
    """Where a rule runs: the model's name, its file, and whether example inputs were found."""

    model: str
    file: str
    has_inputs: bool = True


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: Severity
    check: Callable[..., Iterable[Violation]]
    requires: tuple[str, ...] = ()  # pass names (see modelcheck.passes): the rule is skipped without them
    optional: tuple[str, ...] = ()  # passes the rule reads when they ran, and does without otherwise
    doc: str = ""
    origin: str = ""  # the module that defined it
    opt_in: bool = False  # costly rules: "ALL" does not enable them, a code, prefix or name does
    options: Mapping[str, OptionValue] = field(default_factory=dict)  # declared options and their defaults

    @property
    def summary(self) -> str:
        """The first line of the docs (after the title, if any)."""
        for line in self.doc.strip().splitlines():
            line = line.strip().lstrip("#").strip()
            if line:
                return line
        return self.name

    @property
    def meta(self) -> RuleMeta:
        return RuleMeta(self.code, self.name, self.severity, self.doc, self.origin, self.requires, dict(self.options))

    def resolve_options(self, configured: Mapping[str, Any], where: str = "") -> dict[str, OptionValue]:
        """The declared defaults with ``configured`` on top, each checked against its default's type.

        Raises ``ConfigError`` naming the rule and the key: a rule accepts only the options it declares.
        """
        where = where or f"[tool.modelcheck.options.{self.code}]"
        out: dict[str, OptionValue] = dict(self.options)
        for key, value in configured.items():
            if key not in self.options:
                known = ", ".join(sorted(self.options)) or "none"
                raise ConfigError(f"{where}: {self.code} ({self.name}) has no option {key!r}",
                                  hint=f"its options are: {known} (`modelcheck rule {self.code}` lists them)")
            out[key] = _coerce(value, self.options[key], f"{where} {key}", self)
        return out

    @property
    def reads(self) -> tuple[str, ...]:
        """Every pass whose facts the rule reads: the engine runs exactly these (and the report's own)."""
        return tuple(dict.fromkeys((*self.requires, *self.optional)))

    def run(self, graph: Graph, ctx: RuleContext, options: Mapping[str, Any]) -> list[Violation]:
        available = {"graph": graph, "options": options, "ctx": ctx}
        wanted = inspect.signature(self.check).parameters
        return list(self.check(**{k: available[k] for k in wanted}))


OptionValue = bool | int | float | str


def _coerce(value: Any, default: OptionValue, where: str, r: Rule) -> OptionValue:
    """``value`` as the type of ``default``: an int is a valid float, nothing else is converted."""
    kind = type(default)
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not ok:
        raise ConfigError(f"{where} = {value!r}: {r.code} ({r.name}) expects {_TYPE_NAMES[kind]}",
                          hint=f"e.g. {default!r} (the default)")
    return value


_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def rule(
    *, code: str, name: str, severity: Severity | str, requires: Iterable[str] = (), optional: Iterable[str] = (),
    opt_in: bool = False, options: Mapping[str, OptionValue] | None = None,
) -> Callable[[Callable[..., Iterable[Violation]]], Rule]:
    """Declare a rule: ``RULE = rule(code="MC101", name="...", severity="warning")(check)``."""
    for key, default in (options or {}).items():
        if not NAME_RE.match(key) or type(default) not in _TYPE_NAMES:
            raise ValueError(f"{code}: option {key!r} must be kebab-case with a bool, int, float or str default")
    if not CODE_RE.match(code):
        raise ValueError(f"rule code {code!r} must look like MC101")
    if not NAME_RE.match(name):
        raise ValueError(f"rule name {name!r} must be kebab-case")

    def wrap(check: Callable[..., Iterable[Violation]]) -> Rule:
        unknown = set(inspect.signature(check).parameters) - set(CHECK_PARAMS)
        if unknown:
            raise TypeError(f"{code}: check asks for unknown parameters {sorted(unknown)}")
        mod = sys.modules.get(check.__module__)
        doc = inspect.cleandoc((mod.__doc__ if mod is not None else None) or check.__doc__ or "")
        return Rule(
            code=code,
            name=name,
            severity=Severity(severity),
            check=check,
            requires=tuple(requires),
            optional=tuple(optional),
            doc=doc,
            origin=check.__module__,
            opt_in=opt_in,
            options=dict(options or {}),
        )

    return wrap
