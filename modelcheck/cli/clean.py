"""``modelcheck clean``: remove the result cache of the project (the folder of the closest config)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from modelcheck.config.settings import CliOptions, resolve_settings
from modelcheck.engine.cache import cache_dir, clear


def clean(
    path: Annotated[Optional[str], typer.Argument(help="A file or folder of the project (default: the current folder).", show_default=False)] = None,
) -> None:
    """Remove the result cache (.modelcheck_cache, or $MODELCHECK_CACHE_DIR)."""
    settings = resolve_settings([path or "."], CliOptions())
    removed = clear(settings)
    typer.echo(f"removed {removed}" if removed is not None else f"no cache at {cache_dir(settings)}")
