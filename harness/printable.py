"""Text from outside (a manifest, a URL, an error message) made safe for a terminal line.

A manifest can hold ANSI or OSC escape sequences (``\\x1b]8;;...``, ``\\x1b[2J``) that a
terminal would obey: clear the screen, retitle the window, forge a link or hide the rest
of the line. Every human-readable line the harness prints from such text goes through
`printable`, which shows control characters as Python escapes instead.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

# C0 controls and DEL, C1 controls, and the bidirectional overrides that reorder a line.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` on one line with every control character written as ``\\xNN``/``\\uNNNN``
    (a newline becomes ``\\x0a``); other characters, including non-ASCII letters, stay."""
    return _CONTROL.sub(_escape, text)
