"""Manifest parsing: multi-document YAML/JSON, line numbers, syntax errors."""

from __future__ import annotations

import pytest

from harness.knative.manifest import ManifestError, parse_manifests

TWO_DOCS = """\
# a comment
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: a
  annotations:
    autoscaling.knative.dev/window: "10s"
spec:
  traffic:
  - percent: 100
    latestRevision: true
---
---
kind: ConfigMap
"""


def test_documents_keep_field_lines() -> None:
    first, second = parse_manifests(TWO_DOCS)
    assert first.line == 2 and second.line == 14
    assert first.obj["metadata"]["name"] == "a"
    assert first.line_of("metadata.name") == 5
    assert first.line_of("metadata.annotations.autoscaling.knative.dev/window") == 7
    assert first.line_of("spec.traffic[0]") == 10
    assert first.line_of("spec.traffic[0].latestRevision") == 11
    # Unwritten fields fall back to the closest written parent, then the document.
    assert first.line_of("spec.traffic[0].tag") == 10
    assert first.line_of("spec.template.spec") == 8
    assert first.line_of("status") == 2
    # Knative's ".[key]" paths and paths with text appended still find their line.
    assert first.line_of("metadata.annotations.[autoscaling.knative.dev/window]") == 7
    assert first.line_of("metadata.annotations.autoscaling.knative.dev/window=0 x") == 7


def test_json_is_read_too() -> None:
    (doc,) = parse_manifests('{\n  "kind": "Service",\n  "spec": {"traffic": []}\n}\n')
    assert doc.obj == {"kind": "Service", "spec": {"traffic": []}}
    assert doc.line_of("spec.traffic") == 3


def test_json_with_tabs_falls_back_to_json_parser() -> None:
    (doc,) = parse_manifests('{"kind":\t"Service"}')
    assert doc.obj == {"kind": "Service"}


def test_list_kind_is_expanded() -> None:
    text = "kind: List\napiVersion: v1\nitems:\n- kind: A\n  x: 1\n- kind: B\n"
    first, second = parse_manifests(text)
    assert first.obj == {"kind": "A", "x": 1} and first.line == 4
    assert first.line_of("x") == 5
    assert second.obj == {"kind": "B"}


def test_duplicate_keys_are_recorded() -> None:
    (doc,) = parse_manifests("a: 1\nb:\n  c: 1\n  c: 2\n")
    assert doc.duplicate_keys == (("b.c", 4),)


def test_empty_documents_are_skipped() -> None:
    assert parse_manifests("") == []
    assert parse_manifests("---\n# only a comment\n---\n") == []


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("a: b\n  c: d\n", 2, 4),
        ("a:\n\t- b\n", 2, 1),
        ("a: [1, 2\nb: 3\n", 2, 2),
    ],
)
def test_syntax_errors_have_line_and_column(text: str, line: int, column: int) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifests(text)
    assert (info.value.line, info.value.column) == (line, column)
    assert info.value.message.startswith("YAML syntax error: ")


def test_bad_json_reports_json_position() -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifests('{"a": 1,\n "b": [}')
    assert info.value.line == 2 and info.value.message.startswith("JSON syntax error")


def test_line_index_visits_each_node_once_not_each_alias_expansion() -> None:
    # 10**5 values once expanded (under the bound), but only about 60 nodes
    lines = ["a: &a [" + ",".join(["x"] * 10) + "]"]
    for level, name in enumerate("bcde", start=1):
        prev = "abcde"[level - 1]
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]")
    (document,) = parse_manifests("\n".join(lines) + "\n")
    assert len(document.lines) < 100
    # a path through aliases points at the node the first alias names (d, line 4)
    assert document.line_of("e[3][7][1][0][2]") == 4
    assert len(document.obj["e"][9][9][9][9]) == 10


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a: &a [1, *a]\n", "recursive alias"),
        ("[" * 101 + "]" * 101 + "\n", "nested more than 100 levels deep"),
        ("a: " + "9" * 4301 + "\n", "integer with more than 4,300 digits"),
        ('{\t"a": ' + "9" * 4301 + "}\n", "integer with more than 4,300 digits"),
        ("a: 2024-13-45\n", "cannot read timestamp value"),
    ],
)
def test_bounds_are_manifest_errors_with_a_place(text: str, reason: str) -> None:
    with pytest.raises(ManifestError) as raised:
        parse_manifests(text)
    assert reason in str(raised.value) and "\n" not in str(raised.value)
