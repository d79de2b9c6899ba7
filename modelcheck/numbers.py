"""Number formatting shared by every reporter, so a gain reads the same in text, GitHub and SARIF.

fmt_num(3.1e-09) -> "3.1e-09"   fmt_num(1.734) -> "1.73"   fmt_num(310.2) -> "310"
fmt_count(1_234_567) -> "1.2M"
json_float(x, inf=None)         NaN -> None; +-inf -> ``inf`` policy (see modelcheck.render.json)
"""

from __future__ import annotations

import math
import sys
from typing import Any, Mapping

UNKNOWN = "unknown"
HUGE = sys.float_info.max  # the largest finite double: what +inf becomes where a number is required


def fmt_num(x: float | None) -> str:
    """Compact, at most three significant digits; scientific outside [1e-3, 1e4)."""
    if x is None:
        return UNKNOWN
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    ax = abs(x)
    if 100 <= ax < 1e4:
        return f"{x:.0f}"
    if 1e-3 <= ax < 100:
        return f"{x:.3g}"
    return f"{x:.1e}"


def fmt_ratio(x: float) -> str:
    """A multiplicative change, ``x1e-03`` / ``x310``."""
    return "x" + fmt_num(x)


def fmt_count(n: int | None) -> str:
    """Parameter counts like torchinfo and Hugging Face print them: 950, 12.3k, 1.2M, 7.0B."""
    if n is None:
        return UNKNOWN
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            value = n / scale
            return f"{value:.1f}{suffix}" if value < 100 else f"{value:.0f}{suffix}"
    return str(n)


def json_float(x: float | None, *, inf: float | None = HUGE) -> float | None:
    """A JSON-safe float: NaN -> null; +-inf -> +-``inf`` (``None`` keeps null)."""
    if x is None:
        return None
    x = float(x)
    if math.isnan(x):
        return None
    if math.isinf(x):
        return None if inf is None else math.copysign(inf, x)
    return x


def json_numbers(numbers: Mapping[str, Any]) -> dict[str, Any]:
    """A finding's ``numbers`` mapping made JSON-safe (key order kept; non-numbers stringified)."""
    out: dict[str, Any] = {}
    for key, value in numbers.items():
        if isinstance(value, bool) or value is None:
            out[str(key)] = value
        elif isinstance(value, (int, float)):
            out[str(key)] = json_float(value) if isinstance(value, float) else value
        else:
            try:
                out[str(key)] = json_float(float(value))
            except (TypeError, ValueError):
                out[str(key)] = str(value)
    return out


def json_safe(obj: Any) -> Any:
    """``obj`` with every float made JSON-safe and every non-JSON leaf turned into a string."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return json_float(obj)
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return str(obj)
