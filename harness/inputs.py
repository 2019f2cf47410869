"""Bounded reading of the text, YAML and JSON the harness is given.

Manifests (`harness lint`, `local apply`, `canary --apply`), `--config` specs and
kubeconfigs may come from a pull request or a careless paste, so every one is read
through here with the bounds below (docs/limits.md):

- at most `MAX_INPUT_BYTES` bytes, read as at most that plus one byte, so stdin and
  ``/dev/zero`` stop there too; UTF-8 text only (binary is refused, not decoded);
- at most `MAX_DEPTH` levels of nesting;
- at most `MAX_NODES` values once YAML aliases are expanded (a "billion laughs" file
  is refused once composed, where an alias is a reference and costs nothing, before
  any value is built), and no recursive alias;
- integers of at most 4,300 digits (Python's ``int`` conversion limit).

A bound that is exceeded raises `InputError` with the line and column when known; the
callers turn it into one line and exit 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    NodeEvent,
    ScalarEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = [
    "MAX_DEPTH",
    "MAX_INPUT_BYTES",
    "MAX_INT_DIGITS",
    "MAX_NODES",
    "FastSafeLoader",
    "InputError",
    "PySafeLoader",
    "check_node_bounds",
    "check_yaml_bounds",
    "composes_in_c",
    "load_json",
    "load_yaml",
    "read_text",
    "yaml_error_text",
]

MAX_INPUT_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 100
MAX_NODES = 1_000_000
# Python refuses to convert longer digit strings (sys.get_int_max_str_digits()).
MAX_INT_DIGITS = 4300


class InputError(ValueError):
    """An input broke a bound or is not text; ``line``/``column`` are 1-based when known."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}: " if self.line else ""
        return f"{where}{self.message}"


def _size_text(size: int) -> str:
    return f"{size // (1024 * 1024)} MB" if size >= 1024 * 1024 else f"{size} bytes"


def read_text(source: str | Path, *, limit: int = MAX_INPUT_BYTES) -> str:
    """The UTF-8 text of a file (``-`` is stdin), reading at most ``limit + 1`` bytes.

    Raises `InputError` when it cannot be read, is larger than ``limit``, holds a NUL
    byte or is not UTF-8. A leading byte-order mark is dropped.
    """
    try:
        if str(source) == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with open(Path(source).expanduser(), "rb") as stream:
                data = stream.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputError(f"larger than {_size_text(limit)}, the most the harness reads")
    nul = data.find(b"\0")
    if nul >= 0:
        raise InputError(f"binary data, not text (NUL byte at offset {nul})")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise InputError(f"binary data, not UTF-8 text (byte offset {exc.start})") from None


# ----------------------------------------------------------------- YAML
def check_yaml_bounds(text: str, loader_class: type[Any]) -> None:
    """Walk the YAML event stream of ``text`` once and refuse what breaks a bound.

    Counts every value as if aliases were expanded (an alias adds the size of the node it
    names), so a few hundred bytes that expand to billions of values are refused after a
    few thousand events; memory is proportional to the nesting depth and the anchors.
    Syntax errors are raised as the loader raises them (`yaml.MarkedYAMLError`).
    """
    loader = loader_class(text)
    sizes: dict[str, int] = {}  # anchor -> values under it, aliases expanded, once closed
    stack: list[list[Any]] = []  # open collections: [values so far, anchor]
    total = 0  # values of the current document, aliases expanded
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, DocumentStartEvent):
                sizes, total = {}, 0  # anchors and the bound are per document
                continue
            if isinstance(event, CollectionStartEvent):
                if len(stack) >= MAX_DEPTH:
                    raise _event_error(event, f"nested more than {MAX_DEPTH} levels deep")
                stack.append([1, event.anchor])
                added = 1
            elif isinstance(event, CollectionEndEvent):
                size, anchor = stack.pop()
                if anchor is not None:
                    sizes[anchor] = size
                if stack:
                    stack[-1][0] += size
                continue
            elif isinstance(event, ScalarEvent):
                added = 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            elif isinstance(event, AliasEvent):
                if event.anchor not in sizes:
                    if any(anchor == event.anchor for _, anchor in stack):
                        raise _event_error(event, f"recursive alias *{event.anchor}")
                    continue  # undefined: the composer reports it
                added = sizes[event.anchor]
            else:
                continue
            total += added
            if total > MAX_NODES:
                raise _event_error(
                    event,
                    f"more than {MAX_NODES:,} values once aliases are expanded (an alias bomb?)",
                )
            if stack and not isinstance(event, CollectionStartEvent):
                stack[-1][0] += added
    finally:
        loader.dispose()


def check_node_bounds(root: Node) -> None:
    """Refuse a composed YAML document that breaks a bound, visiting each node once.

    Composing is cheap even for an alias bomb (an alias is a second reference to the
    same node, not a copy), so the document's node graph is checked before any value is
    built: its height (nested collections) and its size with every alias expanded, both
    computed once per node; a node that contains itself is a recursive alias.
    """
    sizes: dict[int, int] = {}  # collections only: a scalar is 1 value, 0 levels
    heights: dict[int, int] = {}
    on_path: set[int] = set()
    pending: list[tuple[Node, list[Node] | None]] = [(root, None)]
    while pending:
        node, children = pending.pop()
        key = id(node)
        if children is not None:  # every child is done
            on_path.discard(key)
            size = 1 + sum(sizes.get(id(child), 1) for child in children)
            height = 1 + max((heights.get(id(child), 0) for child in children), default=0)
            if height > MAX_DEPTH:
                raise _node_error(node, f"nested more than {MAX_DEPTH} levels deep")
            if size > MAX_NODES:
                raise _node_error(
                    node,
                    f"more than {MAX_NODES:,} values once aliases are expanded (an alias bomb?)",
                )
            sizes[key], heights[key] = size, height
            continue
        if key in sizes or isinstance(node, ScalarNode):
            continue
        if key in on_path:
            raise _node_error(node, "recursive alias")
        on_path.add(key)
        children = _child_nodes(node)
        pending.append((node, children))
        pending.extend(
            (child, None)
            for child in children
            if not isinstance(child, ScalarNode) and id(child) not in sizes
        )


def _child_nodes(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def _node_error(node: Node, message: str) -> InputError:
    mark = node.start_mark
    return InputError(message, mark.line + 1, mark.column + 1) if mark else InputError(message)


def composes_in_c(loader_class: type[Any]) -> bool:
    """True for libyaml's loaders, whose composer does not recurse in Python: their
    documents are checked with `check_node_bounds`; the pure-Python composer recurses
    once per level, so its input is checked with `check_yaml_bounds` first."""
    c_parser = getattr(getattr(yaml, "cyaml", None), "CParser", None)
    return c_parser is not None and issubclass(loader_class, c_parser)


def _event_error(event: NodeEvent | CollectionEndEvent, message: str) -> InputError:
    mark = event.start_mark
    return InputError(message, mark.line + 1, mark.column + 1) if mark else InputError(message)


class _BoundedConstruction:
    """Constructor mixin: a value Python cannot build (an integer of 5,000 digits, the
    date 2024-13-45) is a `ConstructorError` at its node, not a stray ValueError."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)  # type: ignore[misc]
        except (ValueError, OverflowError) as exc:
            if node.tag == "tag:yaml.org,2002:int":
                problem = f"integer with more than {MAX_INT_DIGITS:,} digits"
            else:
                problem = f"cannot read {node.tag.rsplit(':', 1)[-1]} value: {exc}"
            raise ConstructorError(None, None, problem, node.start_mark) from None


class FastSafeLoader(_BoundedConstruction, getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's safe loader (ten times faster) with bounded construction."""


class PySafeLoader(_BoundedConstruction, yaml.SafeLoader):
    """The pure-Python safe loader (better worded syntax errors), bounded the same way."""


def load_yaml(text: str, loader_class: type[Any] = FastSafeLoader) -> Any:
    """The single YAML document of ``text`` (None when empty), within every bound.

    Raises `InputError` for a bound and `yaml.YAMLError` for invalid YAML.
    """
    if not composes_in_c(loader_class):
        check_yaml_bounds(text, loader_class)
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_node_bounds(node)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError:
        # libyaml stops at 1,000 levels with its own words: name the bound instead
        check_yaml_bounds(text, PySafeLoader)
        raise
    finally:
        loader.dispose()


def yaml_error_text(exc: yaml.YAMLError) -> str:
    """One line for a PyYAML error (its ``str`` spans several lines and may quote the
    offending character raw)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            problem = f"{exc.context}: {exc.problem}"
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        return f"{where}{problem}"
    if isinstance(exc, yaml.reader.ReaderError):
        char = exc.character
        code = ord(char) if isinstance(char, str) else char
        return f"unacceptable character #x{code:04x} at offset {exc.position}"
    return " ".join(str(exc).split())


# ----------------------------------------------------------------- JSON
def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise InputError(f"integer with more than {MAX_INT_DIGITS:,} digits")
    return int(text)


def load_json(text: str) -> Any:
    """The JSON value of ``text`` within every bound; `InputError` for a bound,
    `json.JSONDecodeError` for invalid JSON."""
    try:
        value = json.loads(text, parse_int=_bounded_int)
    except RecursionError:
        raise InputError(f"nested more than {MAX_DEPTH} levels deep") from None
    _check_depth(value)
    return value


def _check_depth(value: Any) -> None:
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children: Any = ()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            raise InputError(f"nested more than {MAX_DEPTH} levels deep")
        pending.extend((child, depth + 1) for child in children)
