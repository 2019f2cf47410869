"""The lint rules: a catalogue (id, severity, what it checks, Knative source) and the
checks that Knative's webhook does not make but users need.

Webhook rules come from ``harness.knative.validation`` (each ``FieldError`` carries its
rule id); the checks in this package add warnings and infos. Each check takes a
``Subject`` (one Knative object and the cluster settings) and yields ``Issue``s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from harness.knative.cluster import ClusterConfig

__all__ = ["Check", "Issue", "Rule", "Severity", "Subject"]

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Rule:
    """One lint rule as documented in docs/lint.md."""

    id: str
    severity: Severity
    checks: str
    source: str


@dataclass(frozen=True)
class Issue:
    """A check's finding before it is placed on a line: rule id, field path, message."""

    rule: str
    field: str
    message: str


@dataclass(frozen=True)
class Subject:
    """A Knative object under lint: the parsed object and the cluster it is meant for."""

    obj: Mapping[str, Any]
    kind: str
    config: ClusterConfig


Check = Callable[[Subject], Iterable[Issue]]
