"""The ``modelcheck`` command: one typer app, one module per command.

    modelcheck lint PATH...    lint model files (modelcheck.cli.lint)
    modelcheck rules           list the installed rules (modelcheck.cli.rules)
    modelcheck rule CODE       print a rule's documentation
    modelcheck clean           remove the result cache (modelcheck.cli.clean)
    modelcheck --version

Stage 9, the top. May import: the engine, settings, the renderers and records; it is the only caller
of the engine and the only place that decides the exit code.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, NoReturn, Optional

import typer

import modelcheck
from modelcheck.cli import clean as _clean
from modelcheck.cli import lint as _lint
from modelcheck.cli import rules as _rules
from modelcheck.engine import prestart

app = typer.Typer(
    name="modelcheck",
    help="Static analysis for PyTorch model definitions: will this network train?",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("lint")(_lint.lint)
app.command("rules")(_rules.list_rules)
app.command("rule")(_rules.show_rule)
app.command("clean")(_clean.clean)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"modelcheck {modelcheck.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """Static analysis for PyTorch model definitions: will this network train?"""


def main() -> None:
    """Console-script entry point (``modelcheck``)."""
    try:
        app(prog_name="modelcheck")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
        _exit(code)
    _exit(0)


def _exit(code: int) -> NoReturn:
    """Exit without tearing the interpreter down, as mypy does: freeing a large model's graph,
    traces and tensors object by object costs up to a second after the report is out. Kept
    normal under a tracer or coverage, whose exit hooks must run."""
    sys.stdout.flush()
    sys.stderr.flush()
    prestart.stop()  # a zygote started before the command line loaded, in case no file needed it
    if sys.gettrace() is not None or "coverage" in sys.modules or os.environ.get("MODELCHECK_SOFT_EXIT"):
        sys.exit(code)
    os._exit(code)
