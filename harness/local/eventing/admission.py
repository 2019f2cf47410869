"""Admission of Brokers and Triggers written through the emulator's API: what the API
server and Knative Eventing's webhook do before anything is stored (names, resource
versions, generation, defaults and validation from ``harness.knative.eventing_validation``,
plus the emulator's own ``harness.knative.dev/drop-fraction`` annotation check).

A webhook denial is answered as kube-apiserver relays Knative Eventing's webhook (the
serving emulator's code path, ``harness.local.admission.webhook_denial``): 400
``BadRequest``, no details, ``admission webhook "validation.webhook.eventing.knative.dev"
denied the request: validation failed: ...`` (the webhook's name: knative/eventing
cmd/webhook/main.go and config/core/webhooks/resource-validation.yaml at 8cf4c4b6). The
defaulting webhook ``webhook.eventing.knative.dev`` answers before it for a field the Go
types lack (``eventing_validation.decoding_denial``). The API server's own refusals (a missing or
invalid name, a body of the wrong shape) answer first and stay 422 ``Invalid``.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from harness.knative.eventing_validation import (
    canonical_field_names,
    decoding_denial,
    eventing_denial,
    set_broker_defaults,
    set_trigger_defaults,
    validate_broker,
    validate_trigger,
)
from harness.knative.field_error import FieldError
from harness.knative.model import EVENTING_API_VERSION, EVENTING_GROUP
from harness.local.admission import check_object_meta, unconditional_update, webhook_denial
from harness.local.objects import DELETION_FIELDS, now
from harness.local.objectstore import JSON, ApiError, ObjectStore

KINDS = {"brokers": "Broker", "triggers": "Trigger"}
DROP_ANNOTATION = "harness.knative.dev/drop-fraction"


def not_found(resource: str, name: str) -> ApiError:
    """404 as Kubernetes words it for an eventing resource."""
    return ApiError(
        404,
        "NotFound",
        f'{resource}.{EVENTING_GROUP} "{name}" not found',
        details={"name": name, "group": EVENTING_GROUP, "kind": resource},
    )


def _conflict(resource: str, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {resource}.{EVENTING_GROUP} "{name}": the object '
        "has been modified; please apply your changes to the latest version and try again",
        details={"name": name, "group": EVENTING_GROUP, "kind": resource},
    )


def drop_fraction(obj: JSON) -> float:
    """The Trigger's loss knob (0 when absent); assumes admission checked it."""
    value = (obj.get("metadata", {}).get("annotations") or {}).get(DROP_ANNOTATION)
    return float(value) if value is not None else 0.0


def _drop_errors(obj: JSON) -> list[FieldError]:
    value = (obj.get("metadata", {}).get("annotations") or {}).get(DROP_ANNOTATION)
    if value is None:
        return []
    try:
        fraction = float(value)
    except (TypeError, ValueError):
        fraction = -1.0
    if not 0.0 <= fraction <= 1.0:
        return [
            FieldError(
                f"invalid value: {value}",
                (f"metadata.annotations[{DROP_ANNOTATION}]",),
                "a share of events between 0 and 1",
            )
        ]
    return []


def _check_body(body: Any, namespace: str, kind: str) -> JSON:
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "the request body must be a JSON object")
    obj = copy.deepcopy(body)
    if obj.get("kind") not in (None, kind) or obj.get("apiVersion") not in (
        None,
        EVENTING_API_VERSION,
    ):
        raise ApiError(
            400,
            "BadRequest",
            f"expected {EVENTING_API_VERSION} {kind}, "
            f"got {obj.get('apiVersion')}/{obj.get('kind')}",
        )
    obj["apiVersion"], obj["kind"] = EVENTING_API_VERSION, kind
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = obj["metadata"] = {}
    if meta.get("namespace") not in (None, "", namespace):
        raise ApiError(
            400,
            "BadRequest",
            "the namespace of the provided object does not match the namespace sent on the request",
        )
    meta["namespace"] = namespace
    for key in ("labels", "annotations"):
        if meta.get(key) is not None and not (
            isinstance(meta[key], dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in meta[key].items())
        ):
            raise ApiError(
                422, "Invalid", f"{kind}.{EVENTING_GROUP} is invalid: metadata.{key}: Invalid value"
            )
    if obj.get("spec") is not None and not isinstance(obj["spec"], dict):
        raise ApiError(422, "Invalid", f"{kind}.{EVENTING_GROUP} is invalid: spec: Invalid value")
    return obj


def _validate(obj: JSON, old: JSON | None) -> None:
    # The defaulting webhook decodes first: a field the Go type lacks (kept by the CRD
    # schema, which preserves unknown fields under a Trigger's spec and any delivery).
    if denial := decoding_denial(obj):
        raise webhook_denial(denial)
    canonical_field_names(obj)
    if obj["kind"] == "Broker":
        set_broker_defaults(obj)
        errors = validate_broker(obj, old)
    else:
        set_trigger_defaults(obj)
        errors = validate_trigger(obj, old)
        errors += _drop_errors(obj)
    errors = [e for e in errors if e.level == "error"]
    if errors:
        raise webhook_denial(eventing_denial(errors))


def create(
    store: ObjectStore, resource: str, namespace: str, body: Any, *, dry_run: bool = False
) -> JSON:
    """Admit and store a new Broker or Trigger: 422 for the API server's name check, 400
    for the webhook's denial, then 409 if the name is taken (kube-apiserver's order:
    validating webhooks run before storage). A dry run (``dryRun=All``) returns what
    would be stored (no resourceVersion, as the API server's) and stores nothing."""
    kind = KINDS[resource]
    obj = _check_body(body, namespace, kind)
    meta = obj["metadata"]
    generate = meta.get("generateName")
    if not meta.get("name") and generate and isinstance(generate, str):
        meta["name"] = f"{generate}{uuid.uuid4().hex[:5]}"
    # The API server's own name check (as for Services): 400 for a name of the wrong
    # type, 422 Invalid for a missing one or one that is no DNS-1123 subdomain.
    check_object_meta(meta, kind, EVENTING_GROUP)
    name = meta["name"]
    _validate(obj, None)
    if store.peek(resource, namespace, name) is not None:
        raise ApiError(
            409,
            "AlreadyExists",
            f'{resource}.{EVENTING_GROUP} "{name}" already exists',
            details={"name": name, "group": EVENTING_GROUP, "kind": resource},
        )
    meta.update(uid=str(uuid.uuid4()), creationTimestamp=now(), generation=1)
    meta.pop("resourceVersion", None)
    for key in (*DELETION_FIELDS, "finalizers"):
        meta.pop(key, None)
    obj["status"] = {}
    if dry_run:
        return obj
    return store.put(resource, obj)


def replace(
    store: ObjectStore,
    resource: str,
    namespace: str,
    name: str,
    body: Any,
    *,
    dry_run: bool = False,
) -> JSON:
    """Admit and store a replacement: 422 without a resourceVersion, 409 with a stale
    one, 400 for the webhook's denial (its update rules: ``eventing_validation``). A dry
    run returns what would be stored and stores nothing."""
    old = store.peek(resource, namespace, name)
    if old is None:
        raise not_found(resource, name)
    obj = _check_body(body, namespace, KINDS[resource])
    meta = obj["metadata"]
    if meta.get("name") not in (None, name):
        raise ApiError(
            400,
            "BadRequest",
            f"the name of the object ({meta.get('name')}) does not match the name on the "
            f"URL ({name})",
        )
    sent = meta.get("resourceVersion")
    if not sent:
        # Brokers and Triggers are custom resources: no unconditional update (kubectl
        # replace and apply send the stored version; a patch is applied to it).
        raise unconditional_update(resource, name, EVENTING_GROUP)
    if sent != old["metadata"]["resourceVersion"]:
        raise _conflict(resource, name)
    _validate(obj, old)
    old_meta = old["metadata"]
    for key in (*DELETION_FIELDS, "finalizers"):
        meta.pop(key, None)
    spec_changed = obj.get("spec") != old.get("spec")
    meta.update(
        name=name,
        namespace=namespace,
        uid=old_meta["uid"],
        creationTimestamp=old_meta["creationTimestamp"],
        generation=old_meta["generation"] + (1 if spec_changed else 0),
        resourceVersion=old_meta["resourceVersion"],
    )
    obj["status"] = copy.deepcopy(old.get("status", {}))
    if obj == old:
        return copy.deepcopy(old)
    if dry_run:
        return obj
    return store.put(resource, obj)
