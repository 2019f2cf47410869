"""JSON Merge Patch (RFC 7386) and JSON Patch (RFC 6902) as the API applies them."""

from __future__ import annotations

import copy

import pytest

from harness.knative.patches import PatchError, json_patch, merge_patch
from tests.local_api.json_patch_cases import CASES, ERROR


def test_merge_patch_merges_objects_deletes_nulls_replaces_lists() -> None:
    target = {"a": {"b": 1, "c": 2}, "list": [1, 2], "keep": True}
    patched = merge_patch(target, {"a": {"b": None, "d": 3}, "list": [3]})
    assert patched == {"a": {"c": 2, "d": 3}, "list": [3], "keep": True}
    assert target == {"a": {"b": 1, "c": 2}, "list": [1, 2], "keep": True}


def test_json_patch_operations() -> None:
    doc = {"spec": {"traffic": [{"percent": 100}], "a/b": {"~x": 1}}}
    patched = json_patch(
        doc,
        [
            {"op": "add", "path": "/spec/traffic/-", "value": {"percent": 0}},
            {"op": "replace", "path": "/spec/traffic/0/percent", "value": 90},
            {"op": "copy", "from": "/spec/traffic/0", "path": "/spec/first"},
            {"op": "move", "from": "/spec/a~1b/~0x", "path": "/spec/moved"},
            {"op": "test", "path": "/spec/moved", "value": 1},
            {"op": "remove", "path": "/spec/a~1b"},
        ],
    )
    assert patched == {
        "spec": {
            "traffic": [{"percent": 90}, {"percent": 0}],
            "first": {"percent": 90},
            "moved": 1,
        }
    }
    assert doc["spec"]["traffic"] == [{"percent": 100}]


@pytest.mark.parametrize(
    "operations",
    [
        {"op": "add"},
        [{"op": "remove", "path": "/missing"}],
        [{"op": "replace", "path": "/list/5", "value": 1}],
        [{"op": "test", "path": "/list/0", "value": 2}],
        [{"op": "add", "path": "no-slash", "value": 1}],
        [{"op": "move", "from": "/obj", "path": "/obj/child"}],
        [{"op": "add", "path": "/list/01", "value": 1}],
        [{"op": "frobnicate", "path": "/list"}],
        [{"op": "add", "path": "/list/0"}],
    ],
)
def test_json_patch_rejects_what_cannot_apply(operations: object) -> None:
    with pytest.raises(PatchError):
        json_patch({"list": [1], "obj": {}}, operations)


@pytest.mark.parametrize(
    ("document", "operations", "expected"),
    [pytest.param(doc, patch, expected, id=name) for name, doc, patch, expected in CASES],
)
def test_rfc6902_conformance(document: object, operations: object, expected: object) -> None:
    before = copy.deepcopy(document)
    if expected == ERROR:
        with pytest.raises(PatchError):
            json_patch(document, operations)
    else:
        result = json_patch(document, operations)
        assert result == expected
        assert _json_types(result) == _json_types(expected)
    assert document == before  # the input is never changed, even by a failing patch


def _json_types(value: object) -> object:
    """The value with each scalar tagged by its JSON type (Python says True == 1)."""
    if isinstance(value, dict):
        return {key: _json_types(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_types(item) for item in value]
    kind = (
        "bool"
        if isinstance(value, bool)
        else "number"
        if isinstance(value, int | float)
        else type(value).__name__
    )
    return (kind, value)
