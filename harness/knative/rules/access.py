"""Tolerant access to parsed objects: checks run on objects that may be malformed (the
``schema`` rule reports that), so they read what is well-formed and skip the rest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def dig(obj: Any, *keys: str) -> Any:
    """``obj[k1][k2]...``, or None where a level is missing or not a mapping."""
    for key in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def string_map(value: Any) -> dict[str, str]:
    """The string-valued entries of a labels/annotations map."""
    return {str(k): v for k, v in mapping(value).items() if isinstance(v, str)}


def items(value: Any) -> list[Any]:
    """``value`` if it is a list, else an empty one."""
    return value if isinstance(value, list) else []
