"""JSON Merge Patch (RFC 7386) and JSON Patch (RFC 6902), as the Kubernetes API applies them.

Pure functions on JSON values; a patch that cannot apply raises `PatchError` (the API
answers 422 for a failed JSON Patch operation, 400 for a malformed patch).
"""

from __future__ import annotations

import copy
from typing import Any


class PatchError(ValueError):
    """The patch is malformed or one of its operations cannot apply."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, `null` deletes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(document: Any, operations: Any) -> Any:
    """RFC 6902: apply `operations` (a list of op objects) to a copy of `document`."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(document)
    for index, op in enumerate(operations):
        if not isinstance(op, dict) or not isinstance(op.get("op"), str):
            raise PatchError(f"operation {index} has no 'op'")
        doc = _apply(doc, op)
    return doc


def _apply(doc: Any, op: dict[str, Any]) -> Any:
    kind = op["op"]
    path = _pointer(op, "path")
    if kind == "add":
        return _add(doc, path, copy.deepcopy(_value(op)))
    if kind == "remove":
        return _remove(doc, path)[0]
    if kind == "replace":
        value = copy.deepcopy(_value(op))
        if not path:  # the whole document
            return value
        doc, _ = _remove(doc, path)
        return _add(doc, path, value)
    if kind in ("move", "copy"):
        source = _pointer(op, "from")
        if kind == "move":
            if path[: len(source)] == source and len(path) > len(source):
                raise PatchError(f"cannot move {op['from']} into its own child {op['path']}")
            doc, value = _remove(doc, source)
        else:
            value = copy.deepcopy(_get(doc, source))
        return _add(doc, path, value)
    if kind == "test":
        if not _json_equal(_get(doc, path), _value(op)):
            raise PatchError(f"test failed at {op['path']}")
        return doc
    raise PatchError(f"unknown operation {kind!r}")


def _value(op: dict[str, Any]) -> Any:
    if "value" not in op:
        raise PatchError(f"operation {op['op']} at {op.get('path')} needs a value")
    return op["value"]


def _pointer(op: dict[str, Any], key: str) -> list[str]:
    text = op.get(key)
    if not isinstance(text, str) or (text and not text.startswith("/")):
        raise PatchError(f"invalid JSON pointer in {key!r}: {text!r}")
    if text == "":
        return []
    parts = text[1:].split("/")
    # RFC 6901 section 3: "~" appears only as "~0" or "~1".
    if any("~" in part.replace("~0", "").replace("~1", "") for part in parts):
        raise PatchError(f"invalid escape in JSON pointer {text!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in parts]


def _json_equal(left: Any, right: Any) -> bool:
    """RFC 6902 section 4.6: equal values of the same JSON type (so `true` is not `1`)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(
            _json_equal(v, right[k]) for k, v in left.items()
        )
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_json_equal, left, right))
    return type(left) is type(right) and left == right


def _index(container: list[Any], token: str, *, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(container)
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise PatchError(f"invalid array index {token!r}")
    index = int(token)
    if index > len(container) or (index == len(container) and not allow_end):
        raise PatchError(f"array index {index} out of range")
    return index


def _get(doc: Any, path: list[str]) -> Any:
    node = doc
    for token in path:
        if isinstance(node, dict):
            if token not in node:
                raise PatchError(f"path /{'/'.join(path)} does not exist")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, allow_end=False)]
        else:
            raise PatchError(f"path /{'/'.join(path)} does not exist")
    return node


def _add(doc: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    parent = _get(doc, path[:-1])
    token = path[-1]
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, token, allow_end=True), value)
    else:
        raise PatchError(f"cannot add at /{'/'.join(path)}")
    return doc


def _remove(doc: Any, path: list[str]) -> tuple[Any, Any]:
    if not path:
        raise PatchError("cannot remove the whole document")
    parent = _get(doc, path[:-1])
    token = path[-1]
    if isinstance(parent, dict):
        if token not in parent:
            raise PatchError(f"path /{'/'.join(path)} does not exist")
        return doc, parent.pop(token)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, token, allow_end=False))
    raise PatchError(f"path /{'/'.join(path)} does not exist")
