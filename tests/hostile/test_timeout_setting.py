"""``timeout`` under ``[tool.modelcheck]`` and ``--timeout``: seconds per model, a positive number."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelcheck.config.settings import CliOptions, resolve_settings
from modelcheck.errors import ConfigError, UsageError


def _settings(tmp_path: Path, table: str, **cli: object):  # type: ignore[no-untyped-def]
    (tmp_path / "pyproject.toml").write_text("[tool.modelcheck]\n" + table)
    return resolve_settings([str(tmp_path)], CliOptions(**cli))


def test_the_default_is_sized_later_and_the_config_and_flag_set_it(tmp_path: Path) -> None:
    assert _settings(tmp_path, "").timeout is None
    assert _settings(tmp_path, "timeout = 120\n").timeout == 120.0
    assert _settings(tmp_path, "timeout = 120\n", timeout=7.5).timeout == 7.5  # the flag beats the file


def test_the_timeout_is_not_part_of_the_cache_key(tmp_path: Path) -> None:
    assert _settings(tmp_path, "timeout = 5\n").fingerprint() == _settings(tmp_path, "timeout = 500\n").fingerprint()


@pytest.mark.parametrize("value", ["0", "-3", '"soon"', "true"])
def test_a_timeout_that_is_not_a_positive_number_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="timeout"):
        _settings(tmp_path, f"timeout = {value}\n")


def test_a_zero_timeout_flag_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--timeout"):
        _settings(tmp_path, "", timeout=0.0)
