"""A Configuration and its Revisions as Knative's configuration reconciler makes them:
the Configuration a Service owns, the Revision its template makes, whether an existing
Revision may serve the template, and which Revision is the latest ready.

Pure: stored objects (or an iteration over them) in, new objects or names out; the
controller (`harness/local/controller.py`) stores what they build.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable

from harness.local.objects import (
    API_VERSION,
    LABEL_CONFIGURATION,
    LABEL_CONFIGURATION_GENERATION,
    LABEL_CONFIGURATION_UID,
    LABEL_ROUTING_STATE,
    LABEL_SERVICE,
    LABEL_SERVICE_UID,
    now,
    owner_reference,
    ready_of,
)
from harness.local.objectstore import JSON


def new_configuration(svc: JSON, template: JSON) -> JSON:
    """The Configuration a Service owns (its name), at generation 1, not yet stored."""
    meta = svc["metadata"]
    name = meta["name"]
    return {
        "apiVersion": API_VERSION,
        "kind": "Configuration",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "uid": str(uuid.uuid4()),
            "creationTimestamp": now(),
            "generation": 1,
            "labels": {LABEL_SERVICE: name, LABEL_SERVICE_UID: meta["uid"]},
            "ownerReferences": [owner_reference(svc)],
        },
        "spec": {"template": template},
        "status": {},
    }


def new_revision(svc: JSON, config: JSON, template: JSON, name: str) -> JSON:
    """The Revision `name` of the Configuration's current generation, from its template;
    routing state `pending`, status empty, not yet stored."""
    meta = config["metadata"]
    tmeta = template.get("metadata", {})
    labels = dict(tmeta.get("labels", {}))
    labels.update(
        {
            LABEL_CONFIGURATION: meta["name"],
            LABEL_CONFIGURATION_GENERATION: str(meta["generation"]),
            LABEL_CONFIGURATION_UID: meta["uid"],
            LABEL_SERVICE: svc["metadata"]["name"],
            LABEL_SERVICE_UID: svc["metadata"]["uid"],
            LABEL_ROUTING_STATE: "pending",
        }
    )
    return {
        "apiVersion": API_VERSION,
        "kind": "Revision",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "uid": str(uuid.uuid4()),
            "creationTimestamp": now(),
            "generation": 1,
            "labels": labels,
            "annotations": dict(tmeta.get("annotations", {})),
            "ownerReferences": [owner_reference(config)],
        },
        "spec": copy.deepcopy(template.get("spec", {})),
        "status": {},
    }


def template_env(template: JSON) -> dict[str, str]:
    """The literal `env` values of a template's first container."""
    containers = template.get("spec", {}).get("containers") or [{}]
    env: dict[str, str] = {}
    for item in containers[0].get("env") or []:
        if isinstance(item, dict) and "name" in item and "value" in item:
            env[str(item["name"])] = str(item["value"])
    return env


def may_reuse(revision: JSON, config: JSON, template: JSON) -> bool:
    """Whether a Configuration may take the existing Revision its template names:
    `CheckNameAvailability` in knative/serving pkg/reconciler/configuration/configuration.go
    (commit 98e5ef90aa7033797aa0a61ef97f3ff7e49a3944): the Configuration controls it, and
    it is of the Configuration's generation or has the template's spec."""
    controlled = any(
        isinstance(ref, dict)
        and ref.get("controller")
        and ref.get("uid") == config["metadata"].get("uid")
        for ref in revision["metadata"].get("ownerReferences") or []
    )
    if not controlled:
        return False
    labels = revision["metadata"].get("labels") or {}
    if labels.get(LABEL_CONFIGURATION_GENERATION) == str(config["metadata"]["generation"]):
        return True
    return bool(revision.get("spec") == template.get("spec", {}))


def revision_of_generation(revisions: Iterable[JSON], config: str, generation: int) -> JSON | None:
    """The first of `revisions` labelled with Configuration `config` at `generation`."""
    for rev in revisions:
        labels = rev["metadata"].get("labels", {})
        if labels.get(LABEL_CONFIGURATION) == config and labels.get(
            LABEL_CONFIGURATION_GENERATION
        ) == str(generation):
            return rev
    return None


def latest_ready_name(revisions: Iterable[JSON], config: str) -> str | None:
    """The name of Configuration `config`'s ready revision of the highest generation
    among `revisions` (the greater name on a tie)."""
    best: tuple[int, str] | None = None
    for rev in revisions:
        labels = rev["metadata"].get("labels", {})
        if labels.get(LABEL_CONFIGURATION) != config or ready_of(rev)["status"] != "True":
            continue
        key = (int(labels.get(LABEL_CONFIGURATION_GENERATION, "0")), rev["metadata"]["name"])
        if best is None or key > best:
            best = key
    return best[1] if best else None
