"""Imported only by files that must never be imported: leaves a file behind if that happens."""

from __future__ import annotations

from pathlib import Path


def touch(name: str) -> None:
    (Path(__file__).parent / f"SENTINEL_{name}").write_text("imported\n")
