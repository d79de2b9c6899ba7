"""Writing a report in the chosen format: the last step of a run and the only one that prints.

stdout carries the report and nothing else; one-line errors about the run itself (bad flags, bad
configuration) also go to stderr, and in the machine formats they are part of the report too.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator, Mapping

from rich.console import Console

from modelcheck.diagnostics import FileMessage, RuleMeta, RunReport, Severity


@contextmanager
def _stream(output: Path | None) -> Iterator[IO[str]]:
    if output is None:
        yield sys.stdout
    else:
        with output.open("w", encoding="utf-8") as f:
            yield f


def emit(
    report: RunReport,
    fmt: str,
    *,
    root: Path,
    output: Path | None = None,
    verbose: bool = False,
    debug: bool = False,
) -> None:
    with _stream(output) as out:
        if fmt == "text":
            from modelcheck.render.text import render_text

            console = Console(file=out) if output is None else Console(file=out, width=120, no_color=True)
            render_text(report, console, rules=_rules(report), verbose=verbose)
            return
        if fmt == "json":
            from modelcheck.render.json import render_json

            text = render_json(report, debug=debug)
        elif fmt == "sarif":
            from modelcheck.render.sarif import render_sarif

            text = render_sarif(report, _rules(report), root=root)
        else:
            from modelcheck.render.github import render_github

            text = render_github(report, root=root)
        out.write(text if text.endswith("\n") or not text else text + "\n")


def prepare(fmt: str) -> None:
    """Import the reporters now, while the command line would only wait for an early zygote to import
    torch: after the results they cost ~0.05 s of wall time (rich's markdown, SARIF's rule texts)."""
    import modelcheck.render  # noqa: F401  (the package imports every reporter)

    if fmt == "text":
        import modelcheck.render.text  # noqa: F401


def _rules(report: RunReport) -> Mapping[str, RuleMeta]:
    """Rule metadata for the reporters: the report carries it (rendering never loads a plugin)."""
    return {r.code: r for r in report.rules}


def fail(message: str, fmt: str, *, root: Path, where: str = "<command line>", output: Path | None = None) -> None:
    """Report an error about the run itself: one line on stderr, and the report in machine formats."""
    print(f"modelcheck: error: {message}", file=sys.stderr)
    if fmt != "text":
        try:
            emit(RunReport(messages=(FileMessage(where, Severity.ERROR, message),)), fmt, root=root, output=output)
        except OSError:
            pass  # the output itself is what failed: the line on stderr says so
