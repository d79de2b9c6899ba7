"""The shared number format and the log-scale sparkline helpers."""

from __future__ import annotations

import math

import pytest

from modelcheck.numbers import HUGE, fmt_count, fmt_num, json_float, json_numbers
from modelcheck.render.sparkline import (
    BARS,
    MISSING,
    OVERFLOW,
    ZERO,
    log_span,
    resample,
    sparkline,
    steepest_step,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3.1e-09, "3.1e-09"),
        (1.7, "1.7"),
        (1.734, "1.73"),
        (310.2, "310"),
        (3102.0, "3102"),
        (12345.0, "1.2e+04"),
        (0.0123, "0.0123"),
        (0.0009, "9.0e-04"),
        (0.0, "0"),
        (-2.5, "-2.5"),
        (30, "30"),
        (math.inf, "inf"),
        (-math.inf, "-inf"),
        (math.nan, "nan"),
        (None, "unknown"),
    ],
)
def test_fmt_num(value: float | None, text: str) -> None:
    assert fmt_num(value) == text


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0"),
        (950, "950"),
        (12_345, "12.3k"),
        (1_234_567, "1.2M"),
        (123_456_789, "123M"),
        (7_000_000_000, "7.0B"),
        (None, "unknown"),
    ],
)
def test_fmt_count(n: int | None, text: str) -> None:
    assert fmt_count(n) == text


@pytest.mark.parametrize(
    ("value", "inf", "expected"),
    [
        (1.5, HUGE, 1.5),
        (math.nan, HUGE, None),
        (math.inf, HUGE, HUGE),
        (-math.inf, HUGE, -HUGE),
        (math.inf, None, None),
        (None, HUGE, None),
    ],
)
def test_json_float(value: float | None, inf: float | None, expected: float | None) -> None:
    assert json_float(value, inf=inf) == expected


def test_json_numbers_keeps_types_and_order() -> None:
    out = json_numbers(
        {"depth": 30, "gain": math.inf, "odd": math.nan, "flag": True, "what": object}
    )
    assert list(out) == ["depth", "gain", "odd", "flag", "what"]
    assert out["depth"] == 30 and isinstance(out["depth"], int)
    assert out["gain"] == HUGE and out["odd"] is None and out["flag"] is True
    assert isinstance(out["what"], str)


def test_sparkline_is_monotone_on_a_log_scale() -> None:
    values = [10.0**-k for k in range(12, -1, -1)]  # 1e-12 ... 1, one decade per step
    line = sparkline(values, span=log_span(values), width=64)
    assert len(line) == len(values)
    levels = [BARS.index(c) for c in line]
    assert levels == sorted(levels)
    assert line[0] == BARS[0] and line[-1] == BARS[-1]


def test_sparkline_marks_missing_zero_and_overflow() -> None:
    values = [1.0, None, 0.0, math.inf, math.nan, 10.0]
    line = sparkline(values, span=log_span(values), width=64)
    assert line[1] == MISSING and line[2] == ZERO and line[3] == OVERFLOW and line[4] == MISSING
    assert line[0] in BARS and line[5] in BARS


def test_small_wobble_does_not_fill_the_scale() -> None:
    values = [1.0, 1.05, 1.1]
    line = sparkline(values, span=log_span(values), width=10)
    assert BARS[0] not in line and BARS[-1] not in line


def test_resample_bounds_width_and_keeps_extremes_in_order() -> None:
    values = [float(10**-i) for i in range(100)]
    out = resample(values, 20)
    assert len(out) == 20
    assert all(
        a is not None and b is not None and a > b for a, b in zip(out, out[1:], strict=False)
    )
    assert resample(values[:5], 20) == values[:5]


def test_steepest_step_forward_and_backward() -> None:
    values = [1.0, 1.0, 1e-3, 1e-3, 2e-3]
    fwd = steepest_step(values)
    assert fwd is not None and fwd.row == 2 and fwd.ratio == pytest.approx(1e-3)
    bwd = steepest_step(values, backward=True)
    assert bwd is not None and bwd.row == 2 and bwd.ratio == pytest.approx(1e3)
    assert steepest_step([None, 1.0]) is None
