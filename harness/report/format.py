"""How numbers, durations and times read in every report format."""

from __future__ import annotations

import math
import time

__all__ = ["UNITLESS_KEYS", "format_duration", "format_number", "format_utc", "format_value"]

# Metric values that are ratios, evidence or counts: shown without the metric's unit.
UNITLESS_KEYS = frozenset(
    {"ratio", "limit_ratio", "e_value", "threshold", "p_value", "requests", "errors", "count"}
)


def format_number(value: object) -> str:
    """``–`` for None, thousands separators for ints, 4 significant digits for floats."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 10_000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def format_duration(seconds: float) -> str:
    """``1h 2m 3s``, ``4m 5s``, ``42s``, or ``2.5s`` below ten seconds."""
    if seconds < 10:
        return f"{seconds:.3g}s"
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def format_utc(timestamp: float) -> str:
    """``2026-11-26 18:55:01 UTC`` from Unix seconds."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def format_value(key: str, value: object, unit: str, *, exact: bool = False) -> str:
    """A metric value with its unit unless ``key`` is unitless; ``exact`` keeps all digits."""
    if exact and isinstance(value, int | float) and not isinstance(value, bool):
        text = repr(value)
    else:
        text = "n/a" if exact and value is None else format_number(value)
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if unit and numeric and key not in UNITLESS_KEYS:
        text += f" {unit}"
    return text
