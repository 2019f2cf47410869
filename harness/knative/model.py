"""Plain read models of a Knative Service and its Revisions, built from API objects.

They carry only what the harness reads (traffic, readiness, revision names, the
sample app's env), as frozen values; an object without a status yet (just created, or
a manifest) gives empty/None status fields rather than an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from harness.knative.traffic import TrafficTarget, targets_from_list
from harness.knative.urls import domain_from_url

# Knative's API groups, spelled once for the harness, the emulator and the linter.
SERVING_GROUP = "serving.knative.dev"
SERVING_API_VERSION = f"{SERVING_GROUP}/v1"
EVENTING_GROUP = "eventing.knative.dev"
EVENTING_API_VERSION = f"{EVENTING_GROUP}/v1"
MESSAGING_API_VERSION = "messaging.knative.dev/v1"

SERVICE_LABEL = f"{SERVING_GROUP}/service"
CONFIGURATION_GENERATION_LABEL = f"{SERVING_GROUP}/configurationGeneration"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    conditions = status.get("conditions")
    if isinstance(conditions, list):
        for c in conditions:
            if isinstance(c, Mapping) and c.get("type") == kind:
                return c
    return {}


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        # Kubernetes writes RFC 3339 in UTC with a trailing Z.
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _traffic(value: Any) -> tuple[TrafficTarget, ...]:
    try:
        return tuple(targets_from_list(value if isinstance(value, list) else None))
    except ValueError:
        # A malformed block cannot come from a real API server; treat it as absent.
        return ()


@dataclass(frozen=True)
class ServiceState:
    """What the harness reads of a ``serving.knative.dev/v1`` Service.

    ``ready`` means Knative's Ready: ``observedGeneration == generation`` and the Ready
    condition True. ``spec_traffic`` is the block as written (may be empty: Knative then
    defaults it to 100% latest); ``status_traffic`` is the resolved one with tag URLs.
    """

    name: str
    namespace: str
    generation: int | None = None
    observed_generation: int | None = None
    resource_version: str | None = None
    ready: bool = False
    ready_reason: str | None = None
    ready_message: str | None = None
    spec_traffic: tuple[TrafficTarget, ...] = ()
    status_traffic: tuple[TrafficTarget, ...] = ()
    url: str | None = None
    latest_created_revision: str | None = None
    latest_ready_revision: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> ServiceState:
        """Build from a Service as the API returns it (or as a manifest has it, without status)."""
        meta = _mapping(obj.get("metadata"))
        spec = _mapping(obj.get("spec"))
        status = _mapping(obj.get("status"))
        generation = _int_or_none(meta.get("generation"))
        observed = _int_or_none(status.get("observedGeneration"))
        ready_condition = _condition(status, "Ready")
        annotations = _mapping(meta.get("annotations"))
        return cls(
            name=str(meta.get("name") or ""),
            namespace=str(meta.get("namespace") or "default"),
            generation=generation,
            observed_generation=observed,
            resource_version=_str_or_none(meta.get("resourceVersion")),
            ready=(
                observed is not None
                and observed == generation
                and ready_condition.get("status") == "True"
            ),
            ready_reason=_str_or_none(ready_condition.get("reason")),
            ready_message=_str_or_none(ready_condition.get("message")),
            spec_traffic=_traffic(spec.get("traffic")),
            status_traffic=_traffic(status.get("traffic")),
            url=_str_or_none(status.get("url")),
            latest_created_revision=_str_or_none(status.get("latestCreatedRevisionName")),
            latest_ready_revision=_str_or_none(status.get("latestReadyRevisionName")),
            annotations={str(k): v for k, v in annotations.items() if isinstance(v, str)},
            labels={
                str(k): v for k, v in _mapping(meta.get("labels")).items() if isinstance(v, str)
            },
        )

    @property
    def domain(self) -> str | None:
        """The cluster's domain, read from ``url`` (None without a status or a custom template)."""
        return domain_from_url(self.url, self.name, self.namespace) if self.url else None

    def tag_urls(self) -> dict[str, str]:
        """Tag -> URL, from ``status.traffic`` (where Knative publishes them)."""
        return {t.tag: t.url for t in self.status_traffic if t.tag and t.url}


@dataclass(frozen=True)
class RevisionState:
    """What the harness reads of a ``serving.knative.dev/v1`` Revision.

    ``env`` is the first container's literal env values (the sample app's ``SIM_*``
    knobs live there); ``container_concurrency`` None means unset (Knative: 0, unlimited).
    """

    name: str
    namespace: str
    service: str | None = None
    ready: bool = False
    reason: str | None = None
    message: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    container_concurrency: int | None = None
    created: datetime | None = None
    configuration_generation: int | None = None
    image: str | None = None

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> RevisionState:
        """Build from a Revision as the API returns it (status optional)."""
        meta = _mapping(obj.get("metadata"))
        labels = _mapping(meta.get("labels"))
        spec = _mapping(obj.get("spec"))
        status = _mapping(obj.get("status"))
        ready = _condition(status, "Ready")
        containers = spec.get("containers")
        first = _mapping(containers[0]) if isinstance(containers, list) and containers else {}
        env_list = first.get("env")
        env = {
            str(e["name"]): e["value"]
            for e in (env_list if isinstance(env_list, list) else [])
            if isinstance(e, Mapping) and "name" in e and isinstance(e.get("value"), str)
        }
        return cls(
            name=str(meta.get("name") or ""),
            namespace=str(meta.get("namespace") or "default"),
            service=_str_or_none(labels.get(SERVICE_LABEL)),
            ready=ready.get("status") == "True",
            reason=_str_or_none(ready.get("reason")),
            message=_str_or_none(ready.get("message")),
            env=env,
            container_concurrency=_int_or_none(spec.get("containerConcurrency")),
            created=_timestamp(meta.get("creationTimestamp")),
            configuration_generation=_int_or_none(labels.get(CONFIGURATION_GENERATION_LABEL)),
            image=_str_or_none(first.get("image")),
        )
