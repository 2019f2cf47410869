"""JSON Merge Patch (RFC 7386) and JSON Patch (RFC 6902) as the API applies them."""

from __future__ import annotations

import pytest

from harness.local.patches import PatchError, json_patch, merge_patch


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
