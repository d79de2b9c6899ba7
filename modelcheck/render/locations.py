"""Where a finding points, as the CI reporters (SARIF, GitHub) need it: a POSIX path relative to the
repository root, and a line number.

A finding may point into a library file (``Finding.file`` outside the repository, e.g. a layer defined
in site-packages). Code scanning and annotations can only show repository files, so such a finding is
anchored on its model's file instead, and the original place is kept for the message.

:func:`probe_device`: where a model's probe ran, for the text and JSON reports.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from modelcheck.diagnostics import Finding, ModelReport


class Anchor(NamedTuple):
    uri: str | None  # repository-relative POSIX path; None when the file is outside the repository
    line: int | None  # 1-based; None = no line known
    elsewhere: str | None  # "file:line" of the original place when the anchor had to move


def repo_relative(file: str, root: Path) -> str | None:
    """``file`` (as given, relative to the working directory or absolute) relative to ``root``."""
    path = Path(file)
    if not path.is_absolute():
        path = Path.cwd() / path
    try:
        rel = Path(os.path.normpath(path)).relative_to(Path(os.path.normpath(root.absolute())))
    except ValueError:
        try:  # symlinked checkouts (/tmp vs /private/tmp): compare resolved paths as a last resort
            rel = path.resolve().relative_to(root.resolve())
        except ValueError:
            return None
    return rel.as_posix()


def anchor(finding: Finding, model: ModelReport, root: Path) -> Anchor:
    """Where to put ``finding`` in a repository view."""
    own = finding.file or model.file
    line = finding.line if finding.line is not None and finding.line >= 1 else None
    uri = repo_relative(own, root)
    if uri is not None:
        return Anchor(uri, line, None)
    where = f"{own}:{line}" if line is not None else own
    return Anchor(repo_relative(model.file, root), None, where)


def file_uri(file: str, root: Path) -> str:
    """A best-effort path for a tool message: repository-relative, else the path as given."""
    return repo_relative(file, root) or Path(file).as_posix()


def probe_device(m: ModelReport) -> str | None:
    """Where the probe ran: the report's own field, else what the probe summary says."""
    device = m.probe_device or (m.probe_summary or {}).get("device")
    return str(device) if device else None
