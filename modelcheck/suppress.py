"""``# noqa`` suppression, as flake8 and ruff spell it.

- ``# noqa: MC101, MC3`` on the line a finding points at suppresses those codes (prefixes allowed);
  a bare ``# noqa`` suppresses every finding on that line;
- ``# modelcheck: noqa`` anywhere in a file suppresses every finding of the models linted from it,
  ``# modelcheck: noqa: MC101,MC3`` only those codes.

Only comments count (a ``# noqa`` inside a string does not), found with :mod:`tokenize`.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

from modelcheck.diagnostics import Finding

_CODES = r"(?P<codes>[A-Za-z]+[0-9]*(?:[\s,]+[A-Za-z]+[0-9]*)*)"
FILE_RE = re.compile(r"#\s*modelcheck\s*:\s*noqa(?:\s*:\s*" + _CODES + r")?", re.IGNORECASE)
LINE_RE = re.compile(r"#\s*noqa(?::\s*" + _CODES + r")?", re.IGNORECASE)

ALL: tuple[str, ...] = ()  # "every code" (a bare noqa)


@dataclass(frozen=True)
class Directives:
    """The suppression comments of one file. A value of :data:`ALL` means every code."""

    file: tuple[str, ...] | None = None  # file-level codes; None = no file-level directive
    lines: Mapping[int, tuple[str, ...]] = field(default_factory=dict)

    def suppresses(self, finding: Finding, *, file_level: bool = True) -> bool:
        if file_level and self.file is not None and _matches(finding.rule, self.file):
            return True
        codes = self.lines.get(finding.line) if finding.line is not None else None
        return codes is not None and _matches(finding.rule, codes)


def _matches(code: str, codes: tuple[str, ...]) -> bool:
    return codes == ALL or any(code.startswith(c) for c in codes)


def _codes(match: re.Match[str]) -> tuple[str, ...]:
    text = match.group("codes")
    return ALL if not text else tuple(c.upper() for c in re.split(r"[\s,]+", text) if c)


def parse_directives(source: str) -> Directives:
    file_codes: tuple[str, ...] | None = None
    lines: dict[int, tuple[str, ...]] = {}
    for lineno, comment in _comments(source):
        m = FILE_RE.search(comment)
        if m:
            codes = _codes(m)
            file_codes = ALL if codes == ALL or file_codes == ALL else (file_codes or ()) + codes
            continue
        m = LINE_RE.search(comment)
        if m:
            lines[lineno] = _codes(m)
    return Directives(file_codes, lines)


def _comments(source: str) -> Iterable[tuple[int, str]]:
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                yield tok.start[0], tok.string
    except (tokenize.TokenError, IndentationError, SyntaxError):
        # An unparseable file never gets this far in a lint; stay useful for odd ones anyway.
        for i, line in enumerate(source.splitlines(), 1):
            if "#" in line:
                yield i, line[line.index("#") :]


class Suppressor:
    """Applies the directives of the linted file and of every file a finding points into."""

    def __init__(self, linted: Path, read: Callable[[Path], str] | None = None) -> None:
        self._linted = linted.resolve()
        self._read = read or (lambda p: p.read_text(encoding="utf-8", errors="replace"))
        self._cache: dict[Path, Directives] = {}

    def directives(self, path: Path) -> Directives:
        path = path.resolve()
        if path not in self._cache:
            try:
                self._cache[path] = parse_directives(self._read(path))
            except OSError:
                self._cache[path] = Directives()
        return self._cache[path]

    def apply(self, findings: Iterable[Finding], locate: Callable[[Finding], Path | None]) -> tuple[list[Finding], int]:
        """Split ``findings`` into those kept and the number suppressed.

        ``locate`` maps a finding to the file its line belongs to (``None``: no line).
        """
        own = self.directives(self._linted)
        kept: list[Finding] = []
        suppressed = 0
        for f in findings:
            where = locate(f)
            hit = own.file is not None and _matches(f.rule, own.file)
            if not hit and where is not None:
                hit = self.directives(where).suppresses(f, file_level=False)
            if hit:
                suppressed += 1
            else:
                kept.append(f)
        return kept, suppressed
