"""The Knative object vocabulary the emulator's admission and reconcilers share: API
group, labels, conditions (Knative's living condition set), owner references, and the
API errors both raise."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from harness.knative.model import SERVING_GROUP
from harness.local.objectstore import JSON, ApiError

GROUP = SERVING_GROUP
API_VERSION = f"{GROUP}/v1"
LABEL_SERVICE = f"{GROUP}/service"
LABEL_SERVICE_UID = f"{GROUP}/serviceUID"
LABEL_CONFIGURATION = f"{GROUP}/configuration"
LABEL_CONFIGURATION_UID = f"{GROUP}/configurationUID"
LABEL_CONFIGURATION_GENERATION = f"{GROUP}/configurationGeneration"
LABEL_ROUTE = f"{GROUP}/route"
LABEL_ROUTING_STATE = f"{GROUP}/routingState"
DEFAULT_CONTAINER_NAME = "user-container"
DEFAULT_TIMEOUT_SECONDS = 300
CLUSTER_LOCAL_DOMAIN = "svc.cluster.local"
# Set only by a DELETE of an object with finalizers (ObjectMeta; rest.BeforeCreate and
# rest.BeforeUpdate in k8s.io/apiserver keep clients from writing them).
DELETION_FIELDS = ("deletionTimestamp", "deletionGracePeriodSeconds")
ROLLOUT_IN_PROGRESS = "A gradual rollout of the latest revision(s) is in progress."


def now() -> str:
    """Kubernetes' timestamp format (RFC 3339, seconds, UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(type_: str, status: str, reason: str = "", message: str = "") -> JSON:
    """A Knative condition without its transition time (set by `merge_conditions`)."""
    cond: JSON = {"type": type_, "status": status}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def merge_conditions(old: list[JSON] | None, new: list[JSON]) -> list[JSON]:
    """New conditions sorted by type, keeping lastTransitionTime where status did not change."""
    before = {c["type"]: c for c in old or []}
    merged: list[JSON] = []
    for cond in sorted(new, key=lambda c: c["type"]):
        prev = before.get(cond["type"])
        stamp = (
            prev["lastTransitionTime"]
            if prev is not None and prev.get("status") == cond["status"]
            else now()
        )
        merged.append({**cond, "lastTransitionTime": stamp})
    return merged


def ready_of(obj: JSON | None) -> JSON:
    """The Ready condition of `obj` (Unknown when absent)."""
    for cond in (obj or {}).get("status", {}).get("conditions", []):
        if cond.get("type") == "Ready":
            return dict(cond)
    return condition("Ready", "Unknown")


def happy(conditions: Sequence[JSON]) -> JSON:
    """Knative's living condition set: Ready is the worst of its dependents."""
    for wanted in ("False", "Unknown"):
        for cond in conditions:
            if cond["status"] == wanted:
                return condition("Ready", wanted, cond.get("reason", ""), cond.get("message", ""))
    return condition("Ready", "True")


def owning_service(obj: JSON) -> str | None:
    """The name of the Service in `obj`'s ownerReferences, or None for a standalone object."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("kind") == "Service":
            return str(ref.get("name", ""))
    return None


def owned_by(obj: JSON, owner: JSON) -> bool:
    """Whether `owner` (by uid) is among `obj`'s ownerReferences."""
    uid = owner["metadata"]["uid"]
    return any(
        isinstance(ref, dict) and ref.get("uid") == uid
        for ref in obj["metadata"].get("ownerReferences") or []
    )


def owned_route_error(verb: str, name: str, service: str) -> ApiError:
    """405 for a write to a Route its Service manages (write the Service instead)."""
    return ApiError(
        405,
        "MethodNotAllowed",
        f'{verb} is not supported on routes.{GROUP} "{name}": it is owned by '
        f'Service "{service}" (change the Service\'s spec.traffic instead)',
    )


def already_exists(resource: str, name: str) -> ApiError:
    """409 AlreadyExists with Kubernetes' wording."""
    return ApiError(
        409,
        "AlreadyExists",
        f'{resource}.{GROUP} "{name}" already exists',
        details={"name": name, "group": GROUP, "kind": resource},
    )


def owner_reference(obj: JSON) -> JSON:
    meta = obj["metadata"]
    return {
        "apiVersion": API_VERSION,
        "kind": obj["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def finalizers_of(obj: JSON) -> list[str]:
    """`metadata.finalizers` (empty when absent)."""
    return list(obj["metadata"].get("finalizers") or [])


def being_deleted(obj: JSON) -> bool:
    """Whether a DELETE marked `obj` and it waits for its finalizers to go."""
    return "deletionTimestamp" in obj["metadata"]
