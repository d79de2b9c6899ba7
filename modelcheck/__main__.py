"""``python -m modelcheck`` and the ``modelcheck`` command: the zygote may start before the command line loads."""

from __future__ import annotations

import sys


def main() -> None:
    """Console-script entry point. A first lint of named files starts torch's import on another core
    before typer, rich and the engine load (:mod:`modelcheck.engine.prestart`)."""
    from modelcheck.engine import prestart

    prestart.start(sys.argv[1:])
    from modelcheck.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
