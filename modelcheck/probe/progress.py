"""A progress bar on stderr while the probe trains (rich), or nothing at all."""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator


@contextlib.contextmanager
def progress_bar(total: int, label: str, enabled: bool) -> Iterator[Callable[[str], None]]:
    """Yields ``advance(status)``. Off unless ``enabled`` and stderr is a terminal (CI logs stay clean)."""
    if not enabled or not sys.stderr.isatty():
        yield lambda status="": None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (TextColumn("[bold]probe[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("{task.fields[status]}"))
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total, status="")
        yield lambda status="": bar.update(task, advance=1, status=status)
