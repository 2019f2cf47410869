"""Knative's defaulting of a revision spec, which its webhook applies before validating.

From knative/serving ``pkg/apis/serving/v1/revision_defaults.go`` (98e5ef90), the parts
that change what validation sees: container names, the user container's readiness probe
(a TCP probe when none is given; successThreshold 1, and failureThreshold 3 and
timeoutSeconds 1 when periodSeconds is set), and volume mounts of read-only volume kinds
made readOnly. Works on a copy; the input is not changed.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

USER_CONTAINER = "user-container"
INIT_CONTAINER = "init-container"
_HANDLERS = ("tcpSocket", "httpGet", "exec", "grpc")
_WRITABLE = ("emptyDir", "persistentVolumeClaim", "ephemeral")


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _name_containers(containers: list[dict[str, Any]], taken: set[str], default: str) -> None:
    # applyDefaultContainerNames: the default name, then -1, -2, ... while taken.
    suffix = 0
    for container in containers:
        if container.get("name"):
            continue
        name = default
        while name in taken:
            suffix += 1
            name = f"{default}-{suffix}"
        taken.add(name)
        container["name"] = name


def _readiness(container: dict[str, Any], user: bool) -> None:
    probe = container.get("readinessProbe")
    if user:
        if not isinstance(probe, dict):
            probe = container["readinessProbe"] = {}
        if all(probe.get(h) is None for h in _HANDLERS):
            probe["tcpSocket"] = {}
    if not isinstance(probe, dict):
        return
    if not probe.get("successThreshold"):
        probe["successThreshold"] = 1
    if probe.get("periodSeconds"):
        probe.setdefault("failureThreshold", 3)
        probe["failureThreshold"] = probe["failureThreshold"] or 3
        probe["timeoutSeconds"] = probe.get("timeoutSeconds") or 1


def default_revision_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A defaulted copy of a revision template's ``spec``."""
    out = copy.deepcopy(dict(spec))
    containers = _dicts(out.get("containers"))
    init = _dicts(out.get("initContainers"))
    taken = {str(c.get("name")) for c in containers + init if c.get("name")}
    _name_containers(containers, taken, USER_CONTAINER)
    _name_containers(init, taken, INIT_CONTAINER)
    writable = {
        v.get("name")
        for v in _dicts(out.get("volumes"))
        if any(v.get(k) is not None for k in _WRITABLE)
    }
    for container in containers:
        _readiness(container, len(containers) == 1 or bool(container.get("ports")))
        for mount in _dicts(container.get("volumeMounts")):
            if mount.get("name") not in writable:
                mount["readOnly"] = True
    return out
