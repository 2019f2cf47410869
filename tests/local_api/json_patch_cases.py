# ruff: noqa: E501  (one case per line reads better than wrapped cases)
"""RFC 6902 conformance cases for JSON Patch, written for this project.

They cover the ground of the public `json-patch-tests` suite (json-patch/json-patch-tests,
tests.json and spec_tests.json at 2a928f9): the RFC's appendix A examples, every operation
on objects, arrays and the root, RFC 6901 pointer escapes, array index rules, and the type
rules of ``test`` (RFC 6902 section 4.6). Used by tests/local_api/test_patches.py and by
benchmarks/library_choices.py, which runs them through `jsonpatch` as well.

Each case: (name, document, patch, expected). ``expected`` is the patched document, or
``ERROR`` when the patch must be refused.
"""

from __future__ import annotations

from typing import Any, Final

ERROR: Final = "error"

Case = tuple[str, Any, Any, Any]

CASES: list[Case] = [
    # RFC 6902 appendix A
    ("A.1 add an object member", {"a": 1}, [{"op": "add", "path": "/b", "value": 2}], {"a": 1, "b": 2}),
    ("A.2 add an array element", {"l": ["x", "z"]}, [{"op": "add", "path": "/l/1", "value": "y"}], {"l": ["x", "y", "z"]}),
    ("A.3 remove an object member", {"a": 1, "b": 2}, [{"op": "remove", "path": "/b"}], {"a": 1}),
    ("A.4 remove an array element", {"l": [1, 2, 3]}, [{"op": "remove", "path": "/l/1"}], {"l": [1, 3]}),
    ("A.5 replace a value", {"a": 1, "b": 2}, [{"op": "replace", "path": "/a", "value": 9}], {"a": 9, "b": 2}),
    ("A.6 move a value", {"f": {"x": 1}, "t": {}}, [{"op": "move", "from": "/f/x", "path": "/t/x"}], {"f": {}, "t": {"x": 1}}),
    ("A.7 move an array element", {"l": [1, 2, 3, 4]}, [{"op": "move", "from": "/l/1", "path": "/l/3"}], {"l": [1, 3, 4, 2]}),
    ("A.8 test a value: success", {"a": "b", "c": [1, "2"]}, [{"op": "test", "path": "/a", "value": "b"}, {"op": "test", "path": "/c/1", "value": "2"}], {"a": "b", "c": [1, "2"]}),
    ("A.9 test a value: error", {"a": "b"}, [{"op": "test", "path": "/a", "value": "c"}], ERROR),
    ("A.10 add a nested member object", {"a": 1}, [{"op": "add", "path": "/c", "value": {"d": 2}}], {"a": 1, "c": {"d": 2}}),
    ("A.11 ignore unrecognized elements", {"a": 1}, [{"op": "add", "path": "/b", "value": 2, "xyz": 3}], {"a": 1, "b": 2}),
    ("A.12 add to a nonexistent target", {"a": 1}, [{"op": "add", "path": "/x/y", "value": 2}], ERROR),
    ("A.14 ~ escape ordering", {"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}),
    ("A.15 compare strings and numbers", {"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": "10"}], ERROR),
    ("A.16 add an array value", {"l": ["x"]}, [{"op": "add", "path": "/l/-", "value": ["y"]}], {"l": ["x", ["y"]]}),
    # add
    ("add replaces an existing member", {"a": 1}, [{"op": "add", "path": "/a", "value": [2]}], {"a": [2]}),
    ("add null", {"a": 1}, [{"op": "add", "path": "/n", "value": None}], {"a": 1, "n": None}),
    ("add the empty key", {}, [{"op": "add", "path": "/", "value": 1}], {"": 1}),
    ("add at the end index", {"l": [1]}, [{"op": "add", "path": "/l/1", "value": 2}], {"l": [1, 2]}),
    ("add past the end", {"l": [1]}, [{"op": "add", "path": "/l/2", "value": 2}], ERROR),
    ("add at a negative index", {"l": [1]}, [{"op": "add", "path": "/l/-1", "value": 2}], ERROR),
    ("add at a leading-zero index", {"l": [1, 2]}, [{"op": "add", "path": "/l/01", "value": 2}], ERROR),
    ("add at a non-numeric index", {"l": [1]}, [{"op": "add", "path": "/l/bar", "value": 2}], ERROR),
    ("add into a scalar", {"a": "s"}, [{"op": "add", "path": "/a/0", "value": 1}], ERROR),
    ("add replaces the root", {"a": 1}, [{"op": "add", "path": "", "value": [1]}], [1]),
    ("add a numeric key to an object", {"a": 1}, [{"op": "add", "path": "/0", "value": 2}], {"a": 1, "0": 2}),
    ("add without a value", {}, [{"op": "add", "path": "/a"}], ERROR),
    ("add into an array in an object", {"o": {"l": []}}, [{"op": "add", "path": "/o/l/0", "value": {"k": 1}}], {"o": {"l": [{"k": 1}]}}),
    # remove
    ("remove a missing member", {"a": 1}, [{"op": "remove", "path": "/b"}], ERROR),
    ("remove past the end", {"l": [1]}, [{"op": "remove", "path": "/l/1"}], ERROR),
    ("remove the end marker", {"l": [1]}, [{"op": "remove", "path": "/l/-"}], ERROR),
    ("remove the root", {"a": 1}, [{"op": "remove", "path": ""}], ERROR),
    ("remove a nested member", {"a": {"b": 1, "c": 2}}, [{"op": "remove", "path": "/a/b"}], {"a": {"c": 2}}),
    # replace
    ("replace the root", {"a": 1}, [{"op": "replace", "path": "", "value": {"b": 2}}], {"b": 2}),
    ("replace the root with a scalar", {"a": 1}, [{"op": "replace", "path": "", "value": "x"}], "x"),
    ("replace a missing member", {"a": 1}, [{"op": "replace", "path": "/b", "value": 2}], ERROR),
    ("replace an array element", {"l": [1, 2]}, [{"op": "replace", "path": "/l/0", "value": 0}], {"l": [0, 2]}),
    ("replace past the end", {"l": [1]}, [{"op": "replace", "path": "/l/1", "value": 2}], ERROR),
    ("replace with null", {"a": 1}, [{"op": "replace", "path": "/a", "value": None}], {"a": None}),
    ("replace without a value", {"a": 1}, [{"op": "replace", "path": "/a"}], ERROR),
    # move and copy
    ("move to the same place", {"a": 1}, [{"op": "move", "from": "/a", "path": "/a"}], {"a": 1}),
    ("move into its own child", {"a": {"b": 1}}, [{"op": "move", "from": "/a", "path": "/a/b"}], ERROR),
    ("move from a missing member", {"a": 1}, [{"op": "move", "from": "/x", "path": "/b"}], ERROR),
    ("move an array element to the end", {"l": [1, 2, 3]}, [{"op": "move", "from": "/l/0", "path": "/l/-"}], {"l": [2, 3, 1]}),
    ("move to a sibling with a shared prefix", {"ab": 1}, [{"op": "move", "from": "/ab", "path": "/abc"}], {"abc": 1}),
    ("copy a member", {"a": {"b": 1}}, [{"op": "copy", "from": "/a", "path": "/c"}], {"a": {"b": 1}, "c": {"b": 1}}),
    ("copy is deep", {"a": {"b": 1}}, [{"op": "copy", "from": "/a", "path": "/c"}, {"op": "replace", "path": "/c/b", "value": 2}], {"a": {"b": 1}, "c": {"b": 2}}),
    ("copy from a missing member", {"a": 1}, [{"op": "copy", "from": "/x", "path": "/b"}], ERROR),
    ("copy without from", {"a": 1}, [{"op": "copy", "path": "/b"}], ERROR),
    # test: JSON types (RFC 6902 section 4.6)
    ("test equal numbers of different notation", {"a": 1}, [{"op": "test", "path": "/a", "value": 1.0}], {"a": 1}),
    ("test true is not 1", {"a": True}, [{"op": "test", "path": "/a", "value": 1}], ERROR),
    ("test 0 is not false", {"a": 0}, [{"op": "test", "path": "/a", "value": False}], ERROR),
    ("test nested booleans", {"a": [1]}, [{"op": "test", "path": "/a", "value": [True]}], ERROR),
    ("test null", {"a": None}, [{"op": "test", "path": "/a", "value": None}], {"a": None}),
    ("test a missing member", {"a": 1}, [{"op": "test", "path": "/b", "value": None}], ERROR),
    ("test object key order does not matter", {"o": {"x": 1, "y": 2}}, [{"op": "test", "path": "/o", "value": {"y": 2, "x": 1}}], {"o": {"x": 1, "y": 2}}),
    ("test array order matters", {"l": [1, 2]}, [{"op": "test", "path": "/l", "value": [2, 1]}], ERROR),
    ("test objects with an extra key", {"o": {"x": 1}}, [{"op": "test", "path": "/o", "value": {"x": 1, "y": 2}}], ERROR),
    ("test the root", {"a": 1}, [{"op": "test", "path": "", "value": {"a": 1}}], {"a": 1}),
    ("test the empty key", {"": 1}, [{"op": "test", "path": "/", "value": 1}], {"": 1}),
    # pointers
    ("pointer ~1 is a slash", {"a/b": 1}, [{"op": "replace", "path": "/a~1b", "value": 2}], {"a/b": 2}),
    ("pointer ~0 is a tilde", {"m~n": 1}, [{"op": "remove", "path": "/m~0n"}], {}),
    ("pointer with an invalid escape", {"a": {}}, [{"op": "add", "path": "/a/~2", "value": 1}], ERROR),
    ("pointer with a trailing tilde", {"a": {}}, [{"op": "add", "path": "/a/~", "value": 1}], ERROR),
    ("pointer without a leading slash", {"a": 1}, [{"op": "add", "path": "a", "value": 1}], ERROR),
    ("pointer that is not a string", {"a": 1}, [{"op": "add", "path": 1, "value": 1}], ERROR),
    ("pointer with spaces and unicode", {" é": 1}, [{"op": "test", "path": "/ é", "value": 1}], {" é": 1}),
    # malformed patches
    ("a patch that is not a list", {}, {"op": "add", "path": "/a", "value": 1}, ERROR),
    ("an operation that is not an object", {}, ["add"], ERROR),
    ("an operation without op", {}, [{"path": "/a", "value": 1}], ERROR),
    ("an unknown op", {}, [{"op": "spam", "path": "/a", "value": 1}], ERROR),
    ("an operation without path", {}, [{"op": "add", "value": 1}], ERROR),
    ("an empty patch", {"a": 1}, [], {"a": 1}),
    ("a failing op leaves no partial result", {"a": 1}, [{"op": "add", "path": "/b", "value": 2}, {"op": "remove", "path": "/x"}], ERROR),
]  # fmt: skip
