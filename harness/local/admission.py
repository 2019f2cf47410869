"""Admission for the emulator's API writes: what the Kubernetes API server and Knative's
webhooks do before anything is stored.

Knative's defaulting (`harness.knative.defaults`, and the creator/lastModifier
annotations from the request's user, `harness.knative.user_info`) and validation
(`harness.knative.validation`, with the stored object on an update), as `harness lint`
runs them; `resourceVersion` conflicts and `metadata.generation`.
Runs synchronously in the API handler; reconciliation (`controller`) follows.

A denial is answered as a cluster answers it: knative.dev/pkg's webhook returns
`MakeErrorStatus("validation failed: %v", errs)` (`apierrors.NewBadRequest`: code 400,
reason BadRequest, no details; knative/pkg webhook/admission.go at 521cb33b) and the API
server prefixes the webhook's name (k8s.io/apiserver
pkg/admission/plugin/webhook/errors/statuserror.go `ToStatusErr`): 400 `BadRequest`,
`admission webhook "validation.webhook.serving.knative.dev" denied the request:
validation failed: ...`.
"""

from __future__ import annotations

import copy
import secrets
import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from harness.knative.defaults import set_defaults
from harness.knative.field_error import admission_denial, merged
from harness.knative.names import dns1123_subdomain_problems
from harness.knative.user_info import set_user_info
from harness.knative.validation import ClusterConfig, validate_object
from harness.local.objects import (
    API_VERSION,
    DELETION_FIELDS,
    GROUP,
    already_exists,
    finalizers_of,
    now,
    owned_route_error,
    owning_service,
)
from harness.local.objectstore import JSON, ApiError, ObjectStore, conflict, not_found

# Configurations and Revisions are admitted only as a server-side dry run (the API refuses
# storing them: the emulator runs them through their Service).
_KINDS = {
    "services": "Service",
    "routes": "Route",
    "configurations": "Configuration",
    "revisions": "Revision",
}
# The user the emulator's token authenticates (its kubeconfig's user); Knative writes the
# requesting user's name into the creator/lastModifier annotations.
EMULATOR_USER = "harness-local"
# `Impersonate-User` (what `kubectl --as=NAME` sends): the emulator's user is an admin and
# may act as anyone, as a cluster-admin may.
IMPERSONATE_HEADER = "Impersonate-User"
_REQUEST_USER: ContextVar[str] = ContextVar("request_user", default=EMULATOR_USER)
# k8s.io/apiserver pkg/storage/names/generate.go: generateName's base is cut so that the
# name with its 5 random characters (k8s.io/apimachinery util/rand) fits in 63.
GENERATED_BASE_LENGTH = 58
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def set_request_user(headers: Mapping[str, str]) -> None:
    """Record the user of the API request being handled (its task's context): the
    impersonated user when the request names one, else the emulator's own."""
    _REQUEST_USER.set(headers.get(IMPERSONATE_HEADER, "").strip() or EMULATOR_USER)


def request_user() -> str:
    """The user of the API request being handled."""
    return _REQUEST_USER.get()


def _refuse_service_owner(obj: JSON) -> None:
    """422 for a Route written with a Service as its owner: only a Service's reconciler
    makes its Route, and a Service's Route is not writable (it would be adopted wrongly)."""
    if obj["kind"] != "Route" or owning_service(obj) is None:
        return
    name = obj["metadata"].get("name", "")
    message = "a Route written through the API may not be owned by a Service"
    raise ApiError(
        422,
        "Invalid",
        f'Route.{GROUP} "{name}" is invalid: metadata.ownerReferences: Forbidden: {message}',
        details={
            "name": name,
            "group": GROUP,
            "kind": "Route",
            "causes": [
                {
                    "reason": "FieldValueForbidden",
                    "message": message,
                    "field": "metadata.ownerReferences",
                }
            ],
        },
    )


class Admission:
    """Admits Services and standalone Routes written through the API into the store (and
    Configurations and Revisions on a dry-run create, which the API allows for them)."""

    def __init__(self, store: ObjectStore, cluster_config: ClusterConfig | None = None) -> None:
        self.store = store
        self.cluster_config = cluster_config or ClusterConfig()
        # Knative's warnings for the last admitted write ("message: paths" lines), which
        # the API sends as Warning headers.
        self.last_warnings: list[str] = []

    def check_route_writable(self, namespace: str, name: str, verb: str) -> None:
        """404 if the Route does not exist, 405 if a Service owns it."""
        route = self.store.peek("routes", namespace, name)
        if route is None:
            raise not_found("routes", name)
        owner = owning_service(route)
        if owner is not None:
            raise owned_route_error(verb, name, owner)

    def create(self, resource: str, namespace: str, body: JSON, *, dry_run: bool = False) -> JSON:
        """Admit and store a new object; 409 AlreadyExists (a standalone Route also when a
        Service has the name), 400 on Knative's rejection. A dry run returns what would be
        stored and stores nothing."""
        self.last_warnings = []
        kind = _KINDS[resource]
        obj = _check_body(body, namespace, kind)
        check_owner_references(obj["metadata"], kind)
        _refuse_service_owner(obj)
        # The order of kube-apiserver's create: mutating webhooks (Knative's SetDefaults,
        # the same code path as `harness lint`), the name generated from generateName, the
        # API server's own metadata validation (422), validating webhooks (Knative's: 400),
        # then storage (409 AlreadyExists). k8s.io/apiserver
        # pkg/registry/generic/registry/store.go `create`.
        set_defaults(obj, self.cluster_config)
        set_user_info(obj, None, request_user())
        meta = obj["metadata"]
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = self._generated_name(resource, namespace, meta["generateName"])
        check_object_meta(meta, kind)
        name = meta["name"]
        self._validate(obj, None)
        taken = self.store.peek(resource, namespace, name) is not None or (
            resource == "routes" and self.store.peek("services", namespace, name) is not None
        )
        if taken:
            raise already_exists(resource, name)
        meta.update(
            namespace=namespace,
            uid=str(uuid.uuid4()),
            creationTimestamp=now(),
            generation=1,
        )
        meta.pop("resourceVersion", None)
        # rest.BeforeCreate: a new object is never being deleted, whatever the body says.
        for key in DELETION_FIELDS:
            meta.pop(key, None)
        obj["status"] = {}
        if dry_run:
            return copy.deepcopy(obj)
        return self.store.put(resource, obj)

    def _generated_name(self, resource: str, namespace: str, base: Any) -> Any:
        """``generateName`` plus 5 random characters, as the API server's
        ``SimpleNameGenerator`` (base cut to 58); a name in use is drawn again."""
        if not isinstance(base, str):
            return base  # check_object_meta refuses it
        for _ in range(8):
            name = base[:GENERATED_BASE_LENGTH] + "".join(
                secrets.choice(NAME_ALPHABET) for _ in range(5)
            )
            if self.store.peek(resource, namespace, name) is None:
                return name
        return name

    def replace(
        self, resource: str, namespace: str, name: str, body: JSON, *, dry_run: bool = False
    ) -> tuple[JSON, bool]:
        """Admit and store a replacement; returns it and whether its spec changed (a dry
        run: what would be stored, nothing stored). The body must carry the stored
        resourceVersion: 422 without one (custom resources allow no unconditional
        update), 409 for another."""
        self.last_warnings = []
        old = self.store.peek(resource, namespace, name)
        if old is None:
            raise not_found(resource, name)
        obj = _check_body(body, namespace, _KINDS[resource])
        check_owner_references(obj["metadata"], obj["kind"])
        _refuse_service_owner(obj)
        meta = obj["metadata"]
        if meta.get("name") not in (None, name):
            raise ApiError(
                400,
                "BadRequest",
                f"the name of the object ({meta.get('name')}) does not match the name on "
                f"the URL ({name})",
            )
        sent_version = meta.get("resourceVersion")
        if not sent_version:
            raise unconditional_update(resource, name)
        if sent_version != old["metadata"]["resourceVersion"]:
            raise conflict(resource, name)
        set_defaults(obj, self.cluster_config, old)
        set_user_info(obj, old, request_user())
        self._validate(obj, old)
        old_meta = old["metadata"]
        # rest.BeforeUpdate: only a DELETE sets the deletion fields; an update keeps the
        # old ones, and may not add a finalizer to an object being deleted.
        for key in DELETION_FIELDS:
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        if "deletionTimestamp" in old_meta:
            _refuse_new_finalizers(obj, old)
        spec_changed = obj["spec"] != old["spec"]
        meta.update(
            name=name,
            namespace=namespace,
            uid=old_meta["uid"],
            creationTimestamp=old_meta["creationTimestamp"],
            generation=old_meta["generation"] + (1 if spec_changed else 0),
        )
        meta["resourceVersion"] = old_meta["resourceVersion"]
        obj["status"] = copy.deepcopy(old.get("status", {}))
        if obj == old:
            # Kubernetes does not write (nor bump resourceVersion) for a no-op update.
            return copy.deepcopy(old), False
        if dry_run:
            return copy.deepcopy(obj), spec_changed
        return self.store.put(resource, obj), spec_changed

    def _validate(self, obj: JSON, old: JSON | None) -> None:
        """Knative's validating webhook on a defaulted object (``old``: the stored one, on
        an update); a denial is the API server's 400 (module docstring)."""
        results = validate_object(obj, self.cluster_config, defaults=False, old=old)
        errors = [e for e in results if e.level == "error"]
        warnings = [e for e in results if e.level == "warning"]
        # One warning per merged error, as Knative's webhook returns them.
        self.last_warnings = [str(w) for w in merged(warnings)]
        if errors:
            raise webhook_denial(admission_denial(errors))


def webhook_denial(message: str) -> ApiError:
    """A Knative webhook's denial as kube-apiserver relays it (module docstring): 400
    ``BadRequest`` without details; ``message`` names the webhook (serving's
    ``admission_denial``, eventing's ``eventing_denial``)."""
    return ApiError(400, "BadRequest", message)


def unconditional_update(resource: str, name: str, group: str = GROUP) -> ApiError:
    """A custom resource is never updated without a resourceVersion (apiextensions
    customResourceStrategy.AllowUnconditionalUpdate is false; k8s.io/apiserver
    registry/generic/registry/store.go names the resource where the kind belongs)."""
    return _invalid(
        resource,
        name,
        [("FieldValueInvalid", "metadata.resourceVersion", _RV_REQUIRED)],
        qualified=f"{resource}.{group}",
        group=group,
    )


_RV_REQUIRED = "Invalid value: 0x0: must be specified for an update"


def _invalid(
    kind: str,
    name: str,
    causes: list[tuple[str, str, str]],
    *,
    qualified: str = "",
    group: str = GROUP,
) -> ApiError:
    """The API server's 422 ``Invalid`` (apierrors.NewInvalid) for field errors given as
    (reason, field, message after the field)."""
    # field.ErrorList.ToAggregate drops repeated messages; the causes keep every one.
    lines = list(dict.fromkeys(f"{field}: {message}" for _, field, message in causes))
    text = lines[0] if len(lines) == 1 else "[" + ", ".join(lines) + "]"
    return ApiError(
        422,
        "Invalid",
        f'{qualified or f"{kind}.{group}"} "{name}" is invalid: {text}',
        details={
            "name": name,
            "group": group,
            "kind": kind,
            "causes": [
                {"reason": reason, "message": message, "field": field}
                for reason, field, message in causes
            ],
        },
    )


def _go_json_type(value: Any) -> str:
    # encoding/json's UnmarshalTypeError names the JSON value's kind.
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "array" if isinstance(value, list) else "object"


def check_object_meta(meta: JSON, kind: str, group: str = GROUP) -> None:
    """The API server's own validation of a new custom resource's name (k8s.io/apiserver
    ``ValidateObjectMetaAccessor`` with ``NameIsDNSSubdomain``): 400 for a name of the
    wrong type, 422 for one missing or not a DNS-1123 subdomain (a generateName prefix
    likewise, its trailing dash allowed); ``group``: the resource's API group."""
    name, generate = meta.get("name"), meta.get("generateName")
    for key, value in (("name", name), ("generateName", generate)):
        if value is not None and not isinstance(value, str):
            raise ApiError(
                400,
                "BadRequest",
                f'{kind} in version "v1" cannot be handled as a {kind}: json: cannot '
                f"unmarshal {_go_json_type(value)} into Go struct field ObjectMeta.metadata."
                f"{key} of type string",
            )
    causes: list[tuple[str, str, str]] = []
    if generate:
        masked = generate[:-1] + "a" if generate.endswith("-") else generate
        causes += [
            ("FieldValueInvalid", "metadata.generateName", f'Invalid value: "{generate}": {p}')
            for p in dns1123_subdomain_problems(masked)
        ]
    if not name:
        causes.append(
            (
                "FieldValueRequired",
                "metadata.name",
                "Required value: name or generateName is required",
            )
        )
    else:
        causes += [
            ("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": {p}')
            for p in dns1123_subdomain_problems(name)
        ]
    if causes:
        raise _invalid(kind, name or "", causes, group=group)


def check_owner_references(meta: JSON, kind: str) -> None:
    """The API server's validation of ``metadata.ownerReferences`` (k8s.io/apimachinery
    ``validateOwnerReference``: apiVersion with a version, kind, name and uid set; the
    path has no index): 422 ``Invalid``."""
    refs = meta.get("ownerReferences")
    if not isinstance(refs, list):
        return
    causes: list[tuple[str, str, str]] = []
    for ref in refs:
        ref = ref if isinstance(ref, dict) else {}
        version = str(ref.get("apiVersion") or "").rpartition("/")[2]
        for key, value, what in (
            ("apiVersion", version, "version"),
            ("kind", ref.get("kind"), "kind"),
            ("name", ref.get("name"), "name"),
            ("uid", ref.get("uid"), "uid"),
        ):
            if not value:
                written = ref.get(key) or ""
                causes.append(
                    (
                        "FieldValueInvalid",
                        f"metadata.ownerReferences.{key}",
                        f'Invalid value: "{written}": {what} must not be empty',
                    )
                )
    if causes:
        name = meta.get("name")
        raise _invalid(kind, name if isinstance(name, str) else "", causes)


def _refuse_new_finalizers(obj: JSON, old: JSON) -> None:
    """422 for finalizers added to an object being deleted (as the API server's
    generic registry refuses them)."""
    added = sorted(set(finalizers_of(obj)) - set(finalizers_of(old)))
    if not added:
        return
    name = obj["metadata"].get("name", "")
    message = (
        "no new finalizers can be added if the object is being deleted, found new "
        f"finalizers {added}"
    )
    raise ApiError(
        422,
        "Invalid",
        f'{obj["kind"]}.{GROUP} "{name}" is invalid: metadata.finalizers: Forbidden: {message}',
        details={
            "name": name,
            "group": GROUP,
            "kind": obj["kind"],
            "causes": [
                {
                    "reason": "FieldValueForbidden",
                    "message": message,
                    "field": "metadata.finalizers",
                }
            ],
        },
    )


def _check_finalizers(meta: JSON, kind: str) -> None:
    finalizers = meta.get("finalizers")
    if finalizers is None:
        meta.pop("finalizers", None)
        return
    if not isinstance(finalizers, list) or not all(
        isinstance(f, str) and f and len(f) <= 316 for f in finalizers
    ):
        raise ApiError(
            422,
            "Invalid",
            f"{kind}.{GROUP} is invalid: metadata.finalizers: Invalid value: "
            "must be a list of finalizer names",
        )


def _check_body(body: Any, namespace: str, kind: str) -> JSON:
    """The body as an object of `kind` in `namespace` (400 for the wrong shape)."""
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "the request body must be a JSON object")
    if body.get("kind") not in (None, kind) or body.get("apiVersion") not in (
        None,
        API_VERSION,
    ):
        raise ApiError(
            400,
            "BadRequest",
            f"the API version in the data ({body.get('apiVersion')}) and kind "
            f"({body.get('kind')}) do not match {API_VERSION} {kind}",
        )
    obj = copy.deepcopy(body)
    obj["apiVersion"] = API_VERSION
    obj["kind"] = kind
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise ApiError(400, "BadRequest", "metadata must be an object")
    if meta.get("namespace") not in (None, "", namespace):
        raise ApiError(
            400,
            "BadRequest",
            "the namespace of the provided object does not match the namespace sent on the request",
        )
    meta["namespace"] = namespace
    meta.pop("managedFields", None)
    _check_finalizers(meta, kind)
    if not isinstance(obj.get("spec", {}), dict):
        raise ApiError(400, "BadRequest", "spec must be an object")
    return obj
