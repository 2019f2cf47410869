"""Reading Kubernetes manifests: multi-document YAML or JSON, keeping line numbers.

Each document keeps a map from field path (``spec.traffic[1].percent``, the syntax of
Knative's field errors) to the line it is written on, so a finding about a field can
point at its line. A ``kind: List`` is expanded into its items, as kubectl does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from harness.inputs import (
    FastSafeLoader,
    InputError,
    PySafeLoader,
    check_node_bounds,
    check_yaml_bounds,
    composes_in_c,
    load_json,
    yaml_error_text,
)


class ManifestError(Exception):
    """The text is not valid YAML/JSON; ``line`` and ``column`` are 1-based when known."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}: " if self.line else ""
        return f"{where}{self.message}"


@dataclass(frozen=True)
class Document:
    """One object of a manifest file: its value, where it starts, where each field is."""

    obj: Any
    line: int
    lines: Mapping[str, int] = field(default_factory=dict)
    duplicate_keys: tuple[tuple[str, int], ...] = ()

    def line_of(self, path: str) -> int:
        """The line of ``path``, else of the longest written field it starts with (Knative
        appends text to some paths: ``...initial-scale=0 not allowed by cluster``), else
        the document's first line."""
        # Knative writes some map keys as ".[key]"; the map has them as ".key".
        normalized = re.sub(r"\.?\[([^\]]*[^0-9\]][^\]]*)\]", r".\1", path)
        best = ""
        for candidate in (path, normalized):
            if candidate in self.lines:
                return self.lines[candidate]
            for written in self.lines:
                if (
                    len(written) > len(best)
                    and candidate.startswith(written)
                    and candidate[len(written)] in ".[= "
                ):
                    best = written
        return self.lines[best] if best else self.line


def _index_node(node: Node, lines: dict[str, int], duplicates: list[tuple[str, int]]) -> None:
    """Record the line of every field path, visiting each node once: a node reached again
    through an alias keeps the paths of its first place (an alias is not expanded), and
    the walk keeps its own stack, so depth costs no recursion."""
    visited: set[int] = set()
    pending: list[tuple[Node, str]] = [(node, "")]
    while pending:
        current, path = pending.pop()
        if id(current) in visited:
            continue
        visited.add(id(current))
        children: list[tuple[Node, str]] = []
        if isinstance(current, MappingNode):
            seen: set[str] = set()
            for key_node, value_node in current.value:
                key = str(key_node.value) if isinstance(key_node, ScalarNode) else "?"
                child = f"{path}.{key}" if path else key
                line = key_node.start_mark.line + 1
                if key in seen:
                    duplicates.append((child, line))
                seen.add(key)
                lines.setdefault(child, line)
                children.append((value_node, child))
        elif isinstance(current, SequenceNode):
            for i, item in enumerate(current.value):
                child = f"{path}[{i}]"
                lines[child] = item.start_mark.line + 1
                children.append((item, child))
        pending.extend(reversed(children))


def _document(node: Node, loader: yaml.SafeLoader) -> list[Document]:
    obj = loader.construct_document(node)
    if _is_list(obj) and isinstance(node, MappingNode):
        items = next(v for k, v in node.value if isinstance(k, ScalarNode) and k.value == "items")
        if isinstance(items, SequenceNode):
            return [d for item in items.value for d in _document(item, loader)]
    lines: dict[str, int] = {}
    duplicates: list[tuple[str, int]] = []
    _index_node(node, lines, duplicates)
    return [Document(obj, node.start_mark.line + 1, lines, tuple(duplicates))]


def _is_list(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and obj.get("kind") == "List"
        and isinstance(obj.get("items"), list)
    )


# libyaml's loader is ten times faster; the pure-Python one words errors better
# ("found character '\t' ..."), so it re-reads a file only to explain an error.
# Both refuse what breaks the bounds of harness.inputs (size, depth, alias expansion).
_FAST_LOADER: type[Any] = FastSafeLoader


def _load(text: str, loader_class: type[Any]) -> list[Document]:
    if not composes_in_c(loader_class):
        check_yaml_bounds(text, loader_class)
    loader = loader_class(text)
    documents: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None or (
                isinstance(node, ScalarNode) and node.value == "" and node.tag.endswith(":null")
            ):
                continue
            check_node_bounds(node)
            documents.extend(_document(node, loader))
    finally:
        loader.dispose()
    return documents


def _syntax_error(exc: yaml.MarkedYAMLError) -> ManifestError:
    mark = exc.problem_mark or exc.context_mark
    message = exc.problem or exc.context or "invalid YAML"
    if exc.context and exc.problem:
        message = f"{exc.context}: {exc.problem}"
    kind = "YAML error" if isinstance(exc, ConstructorError) else "YAML syntax error"
    return ManifestError(
        f"{kind}: {message}",
        mark.line + 1 if mark else None,
        mark.column + 1 if mark else None,
    )


def _bound_error(exc: InputError) -> ManifestError:
    return ManifestError(exc.message, exc.line, exc.column)


def parse_manifests(text: str) -> list[Document]:
    """Every non-empty document of a YAML stream (JSON is YAML too), in order.

    Raises ``ManifestError`` with the line and column of the first syntax error, or of
    the first place that breaks a bound of `harness.inputs` (depth, alias expansion,
    integer digits).
    """
    try:
        return _load(text, _FAST_LOADER)
    except InputError as exc:
        raise _bound_error(exc) from None
    except yaml.MarkedYAMLError as fast_error:
        if _looks_like_json(text):
            return _parse_json(text)
        try:
            _load(text, PySafeLoader)
        except InputError as exc:
            raise _bound_error(exc) from None
        except yaml.MarkedYAMLError as exc:
            raise _syntax_error(exc) from None
        except yaml.YAMLError:
            pass
        raise _syntax_error(fast_error) from None
    except yaml.YAMLError as exc:
        raise ManifestError(f"YAML error: {yaml_error_text(exc)}") from None


def _looks_like_json(text: str) -> bool:
    return text.lstrip()[:1] in ("{", "[")


def _parse_json(text: str) -> list[Document]:
    # JSON YAML cannot read (tabs inside flow collections, for one): no per-field lines.
    try:
        obj = load_json(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"JSON syntax error: {exc.msg}", exc.lineno, exc.colno) from None
    except InputError as exc:
        raise _bound_error(exc) from None
    if _is_list(obj):
        return [Document(item, 1) for item in obj["items"]]
    return [Document(obj, 1)]
