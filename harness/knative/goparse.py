"""Go's number and duration parsers, as Knative's webhook applies them to annotation strings.

Python's own parsers accept things Go rejects (``1_000``, ``" 5"``) and vice versa
(``1h30m``), so a faithful validator needs Go's grammar.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

SECOND = 10**9
HOUR = 3600 * SECOND

_INT = re.compile(r"^[+-]?[0-9]+$")
_DECIMAL_FLOAT = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")
_HEX_FLOAT = re.compile(
    r"^[+-]?0[xX]([0-9a-fA-F_]+\.?[0-9a-fA-F_]*|\.[0-9a-fA-F_]+)[pP][+-]?[0-9]+$"
)
_SPECIAL_FLOAT = re.compile(r"^[+-]?(inf|infinity|nan)$", re.IGNORECASE)
_DURATION_PART = re.compile(r"([0-9]*)(\.([0-9]*))?([a-zµμ]+)")
_UNITS = {
    "ns": 1,
    "us": 10**3,
    "µs": 10**3,  # U+00B5 micro sign
    "μs": 10**3,  # U+03BC greek mu
    "ms": 10**6,
    "s": SECOND,
    "m": 60 * SECOND,
    "h": HOUR,
}


class GoRangeError(ValueError):
    """The text is a number, but out of the type's range (Go's ``strconv.ErrRange``)."""


def parse_int(text: str, bits: int = 64) -> int:
    """Go's ``strconv.ParseInt(text, 10, bits)``: ``ValueError`` on bad syntax,
    ``GoRangeError`` when outside the signed ``bits``-bit range."""
    if not _INT.match(text):
        raise ValueError(f"invalid syntax: {text!r}")
    value = int(text)
    limit = 2 ** (bits - 1)
    if not -limit <= value < limit:
        raise GoRangeError(f"value out of range: {text!r}")
    return value


def parse_float(text: str) -> float:
    """Go's ``strconv.ParseFloat(text, 64)``: decimal, hex (``0x1p-2``), ``inf``/``nan``;
    ``ValueError`` on bad syntax or overflow."""
    if _SPECIAL_FLOAT.match(text):
        return float(text)
    if _DECIMAL_FLOAT.match(text):
        value = float(text)
    elif _HEX_FLOAT.match(text) and "__" not in text:
        sign = -1.0 if text.startswith("-") else 1.0
        value = sign * float.fromhex(text.lstrip("+-").replace("_", ""))
    else:
        raise ValueError(f"invalid syntax: {text!r}")
    if math.isinf(value):
        raise GoRangeError(f"value out of range: {text!r}")
    return value


def parse_duration(text: str) -> int:
    """Go's ``time.ParseDuration``, in nanoseconds: ``[-+]`` then one or more
    ``<number><unit>`` (``1h30m``, ``1.5s``, ``300ms``), or ``0``. ``ValueError`` otherwise."""
    rest = text
    negative = False
    if rest[:1] in ("-", "+"):
        negative = rest[0] == "-"
        rest = rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise ValueError(f"invalid duration {text!r}")
    total = Fraction(0)
    pos = 0
    while pos < len(rest):
        m = _DURATION_PART.match(rest, pos)
        if m is None:
            raise ValueError(f"invalid duration {text!r}")
        whole, _, frac, unit = m.groups()
        if not whole and not frac:
            raise ValueError(f"invalid duration {text!r}")
        if unit not in _UNITS:
            raise ValueError(f"unknown unit {unit!r} in duration {text!r}")
        number = Fraction(int(whole or "0"))
        if frac:
            number += Fraction(int(frac), 10 ** len(frac))
        total += number * _UNITS[unit]
        pos = m.end()
    # Go truncates the fractional nanoseconds and rejects what does not fit an int64.
    nanos = math.floor(total)
    if nanos > INT64_MAX + (1 if negative else 0):
        raise ValueError(f"invalid duration {text!r}")
    return -nanos if negative else nanos


def format_duration(nanos: int) -> str:
    """Go's ``time.Duration.String()`` for whole seconds and above (``1h0m0s``, ``6s``, ``0s``)."""
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    nanos = abs(nanos)
    if nanos < SECOND or nanos % SECOND:
        raise ValueError("only whole-second durations are formatted")
    seconds = nanos // SECOND
    hours, rem = divmod(seconds, 3600)
    minutes, secs = divmod(rem, 60)
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{sign}{minutes}m{secs}s"
    return f"{sign}{secs}s"


def format_float(value: float) -> str:
    """Go's ``%v``/``%g`` of a float64 for the plain values in Knative's messages
    (``1``, ``0.01``, ``110``)."""
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    return repr(value)
