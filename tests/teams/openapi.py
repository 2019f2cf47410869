"""A small validator for a CRD's openAPIV3Schema, strict as the API server's field
validation (kubectl's default ``--validate=strict``): unknown fields are errors.

Covers what the LocustTest CRD uses: type, properties, additionalProperties (schema),
required, enum, minimum, items, oneOf and x-kubernetes-int-or-string.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def validate(value: Any, schema: Mapping[str, Any], path: str = "") -> list[str]:
    """Every way ``value`` breaks ``schema``, as ``path: problem`` lines (empty: valid)."""
    where = path or "."
    if schema.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, int | str):
            return [f"{where}: must be an integer or a string"]
        return []
    errors: list[str] = []
    expected = schema.get("type")
    if expected is not None:
        ok = isinstance(value, _TYPES[expected])
        if expected in ("integer", "number") and isinstance(value, bool):
            ok = False
        if not ok:
            return [f"{where}: must be of type {expected}, not {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if "minimum" in schema and isinstance(value, int | float) and value < schema["minimum"]:
        errors.append(f"{where}: {value!r} is below the minimum {schema['minimum']}")
    if isinstance(value, dict):
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{where}: required field {key!r} is missing")
        for key, item in value.items():
            if properties is not None and key in properties:
                errors += validate(item, properties[key], f"{path}.{key}")
            elif isinstance(extra, Mapping):
                errors += validate(item, extra, f"{path}.{key}")
            elif properties is not None or extra is False:
                errors.append(f"{where}: unknown field {key!r}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            errors += validate(item, schema["items"], f"{path}[{index}]")
    if "oneOf" in schema:
        matches = sum(1 for option in schema["oneOf"] if not validate(value, option, path))
        if matches != 1:
            errors.append(f"{where}: must match exactly one of oneOf, matches {matches}")
    return errors
