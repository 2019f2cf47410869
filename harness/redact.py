"""Passwords in URLs never reach a terminal, a report or the history store.

A flag such as ``--prometheus http://user:pass@host:9090`` is used as given to connect,
but wherever it is printed or recorded it reads ``http://user:***@host:9090``. A run
that is resumed from its record therefore needs the flag again (docs/contracts.md,
"Limits").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["MASK", "is_redacted", "redact_text", "redact_url", "redact_values"]

MASK = "***"
# scheme://user:password@ anywhere in a text (an error message, an exception's repr)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/?#@:]*):([^\s/?#]*)@")


def redact_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``; other URLs unchanged."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))


def redact_text(text: str) -> str:
    """Every ``scheme://user:password@`` in ``text`` with the password replaced."""
    return _USERINFO.sub(lambda m: f"{m.group(1)}:{MASK}@", text)


def redact_values(value: Any) -> Any:
    """A copy of a JSON-like value with `redact_text` applied to every string in it."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {key: redact_values(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_values(item) for item in value]
    return value


def is_redacted(url: str | None) -> bool:
    """True when ``url`` carries the mask instead of a password (it came from a record)."""
    return bool(url) and f":{MASK}@" in str(url)
