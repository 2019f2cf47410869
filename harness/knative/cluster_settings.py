"""``--cluster-config KEY=VALUE``: config-defaults / config-autoscaler keys on a ClusterConfig.

The keys Knative's validation or defaulting reads, with the checks Knative's ConfigMap
parsers make (knative/serving ``pkg/apis/config/defaults.go`` ``NewDefaultsConfigFromMap``
and ``pkg/autoscaler/config/config.go`` at 98e5ef90): integers, booleans, quantities,
revision-timeout-seconds <= max-revision-timeout-seconds, response-start and idle
timeouts <= revision-timeout-seconds, container-concurrency-max-limit >= 1. A bad key
or value is a ``ValueError`` naming it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from harness.knative.cluster import ClusterConfig
from harness.knative.quantity import is_quantity

_INT = {
    "revision-timeout-seconds": "revision_timeout_seconds",
    "max-revision-timeout-seconds": "max_revision_timeout_seconds",
    "revision-response-start-timeout-seconds": "response_start_timeout_seconds",
    "revision-idle-timeout-seconds": "revision_idle_timeout_seconds",
    "container-concurrency": "container_concurrency",
    "container-concurrency-max-limit": "container_concurrency_max_limit",
    "max-scale-limit": "max_scale_limit",
}
_BOOL = {
    "allow-container-concurrency-zero": "allow_container_concurrency_zero",
    "allow-zero-initial-scale": "allow_zero_initial_scale",
}
_STR = {"pod-autoscaler-class": "pod_autoscaler_class"}
_RESOURCES = {
    f"revision-{name}-{kind}": (kind + "s", resource)
    for name, resource in (
        ("cpu", "cpu"),
        ("memory", "memory"),
        ("ephemeral-storage", "ephemeral-storage"),
    )
    for kind in ("request", "limit")
}
KEYS = sorted([*_INT, *_BOOL, *_STR, *_RESOURCES, "enable-service-links"])
# ClusterConfig field -> its ConfigMap key (for the scalar settings).
FIELD_KEYS = {field: key for key, field in {**_INT, **_BOOL, **_STR}.items()}


def setting_of(field: str, value: object) -> str:
    """``KEY=VALUE`` for a ClusterConfig field's value (booleans as Knative writes them)."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return f"{FIELD_KEYS[field]}={text}"


def _bool(key: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError(f"{key}: {value!r} is not true or false")
    return lowered == "true"


def apply_settings(config: ClusterConfig, assignments: Iterable[str]) -> ClusterConfig:
    """``config`` with each ``KEY=VALUE`` of config-defaults / config-autoscaler applied."""
    changes: dict[str, Any] = {}
    requests = dict(config.revision_requests)
    limits = dict(config.revision_limits)
    response_start_set = False
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"{assignment!r} is not KEY=VALUE")
        if key in _INT:
            try:
                changes[_INT[key]] = int(value)
            except ValueError:
                raise ValueError(f"{key}: {value!r} is not an integer") from None
            response_start_set |= key == "revision-response-start-timeout-seconds"
        elif key in _BOOL:
            changes[_BOOL[key]] = _bool(key, value)
        elif key in _STR:
            changes[_STR[key]] = value
        elif key == "enable-service-links":
            # A tri-state in Knative: "default" leaves the field unset.
            lowered = value.strip().lower()
            changes["enable_service_links"] = None if lowered == "default" else _bool(key, value)
        elif key in _RESOURCES:
            if not is_quantity(value):
                raise ValueError(f"{key}: {value!r} is not a quantity")
            kind, resource = _RESOURCES[key]
            (requests if kind == "requests" else limits)[resource] = value
        else:
            raise ValueError(f"unknown key {key!r}; known: {', '.join(KEYS)}")
    if "revision_timeout_seconds" in changes and not response_start_set:
        # Knative: the response-start timeout defaults to the revision timeout.
        changes["response_start_timeout_seconds"] = changes["revision_timeout_seconds"]
    out = dataclasses.replace(config, revision_requests=requests, revision_limits=limits, **changes)
    _check(out)
    return out


def _check(c: ClusterConfig) -> None:
    if c.revision_timeout_seconds > c.max_revision_timeout_seconds:
        raise ValueError(
            f"revision-timeout-seconds ({c.revision_timeout_seconds}) cannot be greater than "
            f"max-revision-timeout-seconds ({c.max_revision_timeout_seconds})"
        )
    for name, value in (
        ("revision-response-start-timeout-seconds", c.response_start_timeout_seconds),
        ("revision-idle-timeout-seconds", c.revision_idle_timeout_seconds),
    ):
        if value > 0 and value > c.revision_timeout_seconds:
            raise ValueError(
                f"{name} ({value}) cannot be greater than revision-timeout-seconds "
                f"({c.revision_timeout_seconds})"
            )
    if c.container_concurrency_max_limit < 1:
        raise ValueError(
            f"container-concurrency-max-limit {c.container_concurrency_max_limit} is not >= 1"
        )
    if not 0 <= c.container_concurrency <= c.container_concurrency_max_limit:
        raise ValueError(
            f"container-concurrency {c.container_concurrency} is outside [0, "
            f"container-concurrency-max-limit {c.container_concurrency_max_limit}]"
        )
    if c.max_scale_limit < 0:
        raise ValueError(f"max-scale-limit {c.max_scale_limit} is negative")
