"""The `status` of Knative Serving's objects as its reconcilers write it: a Revision's,
a Configuration's, a Route's and a Service's.

Pure builders: each takes the stored object (and what the controller knows of it) and
returns the status dict; the controller (`harness/local/controller.py`) compares it with
the stored one and writes it when it differs.
"""

from __future__ import annotations

import copy

from harness.knative.model import SERVING_GROUP
from harness.knative.traffic import TrafficTarget
from harness.knative.urls import http_url, route_host
from harness.local.objects import (
    CLUSTER_LOCAL_DOMAIN,
    DEFAULT_CONTAINER_NAME,
    ROLLOUT_IN_PROGRESS,
    condition,
    happy,
    merge_conditions,
    ready_of,
)
from harness.local.objectstore import JSON


def revision_status(
    revision: JSON, readiness: tuple[bool, str, str], replicas: tuple[int, int] | None
) -> JSON:
    """A Revision's status from its readiness (ready, reason, message) as the data plane
    reported it and its (actual, desired) replicas where the data plane counts pods;
    without them `actualReplicas` is 1 while ready, else 0, and `desiredReplicas` 1."""
    ready, reason, message = readiness
    if ready:
        health = condition("ContainerHealthy", "True")
        resources = condition("ResourcesAvailable", "True")
    elif reason == "Deploying":
        health = condition("ContainerHealthy", "Unknown")
        resources = condition("ResourcesAvailable", "Unknown", "Deploying")
    else:
        health = condition("ContainerHealthy", "False", reason, message)
        resources = condition("ResourcesAvailable", "Unknown", "Deploying")
    conditions = [health, resources, happy([health, resources])]
    containers = revision["spec"].get("containers") or [{}]
    actual, desired = replicas if replicas is not None else (1 if ready else 0, 1)
    return {
        "observedGeneration": 1,
        "conditions": merge_conditions(revision["status"].get("conditions"), conditions),
        "containerStatuses": [
            {"name": c.get("name", DEFAULT_CONTAINER_NAME), "imageDigest": c.get("image", "")}
            for c in containers
            if isinstance(c, dict)
        ],
        "actualReplicas": actual,
        "desiredReplicas": desired,
    }


def configuration_status(config: JSON, created: JSON, latest_ready: str | None) -> JSON:
    """A Configuration's status: its latest created Revision (`created`, stored) makes
    Ready, `latest_ready` names its latest ready one."""
    latest_created = created["metadata"]["name"]
    created_ready = ready_of(created)
    if created_ready["status"] == "True":
        ready = condition("Ready", "True")
    elif created_ready["status"] == "False":
        ready = condition(
            "Ready",
            "False",
            "RevisionFailed",
            f'Revision "{latest_created}" failed with message: {created_ready.get("message", "")}.',
        )
    else:
        ready = condition("Ready", "Unknown")
    status = {
        "observedGeneration": config["metadata"]["generation"],
        "conditions": merge_conditions(config.get("status", {}).get("conditions"), [ready]),
        "latestCreatedRevisionName": latest_created,
    }
    if latest_ready:
        status["latestReadyRevisionName"] = latest_ready
    return status


def name_taken_status(config: JSON, rev_name: str) -> JSON:
    """A Configuration's status when its template's revision name is taken:
    `MarkRevisionCreationFailed` with the AlreadyExists error, the latest created and
    ready revisions unchanged (configuration.go)."""
    old = config.get("status", {})
    error = f'revisions.{SERVING_GROUP} "{rev_name}" already exists'
    ready = condition(
        "Ready", "False", "RevisionFailed", f"Revision creation failed with message: {error}."
    )
    status: JSON = {
        "observedGeneration": config["metadata"]["generation"],
        "conditions": merge_conditions(old.get("conditions"), [ready]),
    }
    for key in ("latestCreatedRevisionName", "latestReadyRevisionName"):
        if key in old:
            status[key] = old[key]
    return status


def route_status(
    route: JSON,
    generation: int,
    resolved: list[TrafficTarget] | None,
    assigned: JSON,
    *,
    rolling: bool,
    domain: str,
) -> JSON:
    """A Route's status (stored `route`, reconciled at `generation`) from its resolved
    traffic (None: keep the traffic it shows), its AllTrafficAssigned condition and
    whether a rollout is in progress."""
    meta = route["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    if assigned["status"] != "True":
        ingress = condition(
            "IngressReady", "Unknown", "Uninitialized", "Waiting for load balancer to be ready"
        )
    elif rolling:
        # MarkIngressRolloutInProgress: the Route (and its Service) is not Ready until
        # the rollout ends.
        ingress = condition("IngressReady", "Unknown", "RolloutInProgress", ROLLOUT_IN_PROGRESS)
    else:
        ingress = condition("IngressReady", "True")
    certificate = condition(
        "CertificateProvisioned",
        "True",
        "TLSNotEnabled",
        "autoTLS is not enabled",
    )
    conditions = [assigned, certificate, ingress, happy([assigned, ingress])]
    status: JSON = {
        "observedGeneration": generation,
        "conditions": merge_conditions(route.get("status", {}).get("conditions"), conditions),
        "url": http_url(route_host(name, namespace, domain)),
        "address": {"url": http_url(f"{name}.{namespace}.{CLUSTER_LOCAL_DOMAIN}")},
    }
    if resolved is not None:
        status["traffic"] = [t.to_dict() for t in resolved]
    elif "traffic" in route.get("status", {}):
        status["traffic"] = route["status"]["traffic"]
    return status


def service_status(
    stored: JSON,
    generation: int,
    config: JSON | None,
    route: JSON | None,
    *,
    route_owned: bool,
    name_taken: str | None = None,
) -> JSON:
    """A Service's status (stored `stored`, reconciled at `generation`) mirroring its
    Configuration and, when it owns it, its Route (`route` None otherwise)."""
    name = stored["metadata"]["name"]
    cstatus = (config or {}).get("status", {})
    rstatus = (route or {}).get("status", {})
    config_ready = ready_of(config)
    route_ready = ready_of(route)
    configs = condition(
        "ConfigurationsReady",
        config_ready["status"],
        config_ready.get("reason", ""),
        config_ready.get("message", ""),
    )
    routes = (
        condition(
            "RoutesReady",
            route_ready["status"],
            route_ready.get("reason", ""),
            route_ready.get("message", ""),
        )
        if route_owned
        else condition(
            "RoutesReady",
            "False",
            "NotOwned",
            f'There is an existing Route "{name}" that we do not own.',
        )
    )
    dependents = [configs, routes]
    if name_taken is not None:
        # MarkRevisionNameTaken, marked last: Ready takes its reason.
        routes = condition(
            "RoutesReady",
            "False",
            "RevisionNameTaken",
            f'The revision name "{name_taken}" is taken by a conflicting Revision, so '
            "traffic will not be migrated",
        )
        dependents = [routes, configs]
    status: JSON = {
        "observedGeneration": generation,
        "conditions": merge_conditions(
            stored.get("status", {}).get("conditions"),
            [configs, routes, happy(dependents)],
        ),
    }
    for key in ("latestCreatedRevisionName", "latestReadyRevisionName"):
        if key in cstatus:
            status[key] = cstatus[key]
    for key in ("url", "address", "traffic"):
        if key in rstatus:
            status[key] = copy.deepcopy(rstatus[key])
    return status
