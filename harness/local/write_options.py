"""The API server's write options the emulator models: field validation and dry run.

- ``fieldValidation`` (POST/PUT/PATCH): fields outside Knative's CRD schema
  (``harness.knative.unknown_fields``) are refused with ``Strict`` (kubectl's default:
  400, ``strict decoding error: unknown field "..."``), dropped with a ``Warning`` header
  each with ``Warn`` (the API server's default when the parameter is absent), dropped
  silently with ``Ignore``. For a patch, the patched object is checked.
- ``dryRun=All`` (what ``kubectl apply --dry-run=server`` sends): defaulting and
  admission run and the answer is the object as it would be stored, but nothing is
  stored and nothing starts.
- Warnings Knative's webhook returns (its ``apis.WarningLevel`` errors) become
  ``Warning`` headers too, as the API server relays an admission webhook's warnings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import MultiDict

from harness.knative.unknown_fields import (
    FIELD_VALIDATION,
    prune_unknown,
    strict_decoding_error,
    unknown_fields,
)
from harness.local.api_guard import read_body
from harness.local.objectstore import JSON, ApiError

DEFAULT_FIELD_VALIDATION = "Warn"


def field_validation(query: Mapping[str, str]) -> str:
    """The request's ``fieldValidation`` (400 for a value the API server does not take)."""
    value = query.get("fieldValidation", "") or DEFAULT_FIELD_VALIDATION
    if value not in FIELD_VALIDATION:
        raise ApiError(
            400,
            "BadRequest",
            f'fieldValidation: Unsupported value: "{value}": supported values: '
            '"Ignore", "Strict", "Warn"',
        )
    return value


def is_dry_run(query: Mapping[str, str]) -> bool:
    """Whether the request is a dry run (``dryRun=All``; 400 for any other value)."""
    values = query.getall("dryRun", []) if hasattr(query, "getall") else []
    if not values and query.get("dryRun"):
        values = [query["dryRun"]]
    for value in values:
        if value != "All":
            raise ApiError(
                400,
                "BadRequest",
                f'dryRun: Unsupported value: "{value}": supported values: "All"',
            )
    return bool(values)


def check_fields(body: Any, kind: str, mode: str) -> tuple[Any, list[str]]:
    """The body with its unknown fields handled per ``mode``, and the warnings to send."""
    if not isinstance(body, dict):
        return body, []
    if mode == "Strict":
        paths = unknown_fields(body, kind)
        if paths:
            raise ApiError(400, "BadRequest", strict_decoding_error(kind, paths))
        return body, []
    paths = prune_unknown(body, kind)
    if mode == "Warn":
        return body, [f'unknown field "{p}"' for p in paths]
    return body, []


WARNINGS_ATTRIBUTE = "warnings"


def attach_warnings(exc: ApiError, warnings: list[str]) -> ApiError:
    """``exc`` carrying the warnings of its request (the API server sends admission
    warnings with a refusal too)."""
    setattr(exc, WARNINGS_ATTRIBUTE, warnings)
    return exc


def warnings_of(exc: ApiError) -> list[str]:
    return list(getattr(exc, WARNINGS_ATTRIBUTE, []))


def with_warnings(response: web.Response, warnings: Iterable[str]) -> web.Response:
    """``response`` with one ``Warning: 299 - "..."`` header per warning (RFC 7234)."""
    for text in warnings:
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
        response.headers.add("Warning", f'299 - "{escaped}"')
    return response


@dataclass(frozen=True)
class DeleteOptions:
    """What a DELETE asks for beyond the name: a dry run, and preconditions."""

    dry_run: bool = False
    uid: str | None = None
    resource_version: str | None = None
    # Orphan (also the deprecated orphanDependents: true), Background, Foreground.
    propagation: str | None = None

    def check(self, current: JSON, resource: str, group: str) -> None:
        """409 Conflict when ``current`` fails a precondition (k8s.io/apiserver's
        ``Preconditions.Check``: storage's InvalidObj error, which the registry answers
        as a Conflict); a failed precondition deletes nothing."""
        meta = current["metadata"]
        failed = ""
        if self.uid is not None and self.uid != meta.get("uid"):
            failed = f"UID in precondition: {self.uid}, UID in object meta: {meta.get('uid')}"
        elif self.resource_version is not None and self.resource_version != meta.get(
            "resourceVersion"
        ):
            failed = (
                f"ResourceVersion in precondition: {self.resource_version}, "
                f"ResourceVersion in object meta: {meta.get('resourceVersion')}"
            )
        if failed:
            name = meta.get("name", "")
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {resource}.{group} "{name}": '
                f"Precondition failed: {failed}",
                details={"name": name, "group": group, "kind": resource},
            )


async def delete_options(request: web.Request) -> DeleteOptions:
    """A DELETE's options: ``?dryRun=All``, or the DeleteOptions body (where kubectl
    ``delete --dry-run=server`` puts ``dryRun: [All]``, and clients their
    ``preconditions``: ``uid``, ``resourceVersion``)."""
    dry_run = is_dry_run(request.query)
    options = await read_body(request) if request.can_read_body else None
    if not isinstance(options, dict):
        options = {}
    values = options.get("dryRun")
    if isinstance(values, list) and values:
        dry_run = is_dry_run(MultiDict(("dryRun", str(v)) for v in values)) or dry_run
    preconditions = options.get("preconditions")
    if not isinstance(preconditions, dict):
        preconditions = {}
    uid, version = preconditions.get("uid"), preconditions.get("resourceVersion")
    return DeleteOptions(
        dry_run=dry_run,
        uid=str(uid) if uid is not None else None,
        resource_version=str(version) if version is not None else None,
        propagation=_propagation(options, request.query),
    )


PROPAGATION_POLICIES = ("Foreground", "Background", "Orphan")


def _propagation(options: JSON, query: Mapping[str, str]) -> str | None:
    """The DeleteOptions' propagationPolicy (body, else query; the deprecated
    ``orphanDependents: true`` means Orphan); 422 for another value, as
    ValidateDeleteOptions."""
    policy = options.get("propagationPolicy", query.get("propagationPolicy"))
    orphan = options.get("orphanDependents", query.get("orphanDependents"))
    orphan = orphan in (True, "true", "True", "1") if orphan is not None else None
    if policy is not None and policy not in PROPAGATION_POLICIES:
        raise ApiError(
            422,
            "Invalid",
            f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: '
            f'"{policy}": supported values: "Foreground", "Background", "Orphan", "nil"',
        )
    if policy is None and orphan:
        return "Orphan"
    return str(policy) if policy is not None else None


def refuse_orphaning(options: DeleteOptions, resource: str, group: str, dependents: str) -> None:
    """400 for ``propagationPolicy: Orphan`` (``kubectl delete --cascade=orphan``) on an
    object with dependents: a cluster's garbage collector would leave them running with
    their owner reference removed; the emulator cannot keep them without their owner,
    and deleting them (what it did) is not what was asked."""
    if options.propagation == "Orphan":
        raise ApiError(
            400,
            "BadRequest",
            f"propagationPolicy Orphan is not supported on {resource}.{group} by the "
            f"emulator: its {dependents} cannot outlive it (use Background or Foreground)",
        )


def check_uid(body: Any, current: JSON | None, resource: str, group: str, *, patch: bool) -> None:
    """An update may not name another object's ``metadata.uid`` (the emulator's
    admission kept the stored uid silently). A PUT's uid is a precondition
    (rest.defaultUpdatedObjectInfo.Preconditions): 409 Conflict, as for a DELETE; a
    patch that changes it fails ValidateObjectMetaUpdate: 422 ``field is immutable``."""
    if current is None or not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
        return
    uid, stored = body["metadata"].get("uid"), current["metadata"].get("uid")
    if not uid or uid == stored:
        return
    name = current["metadata"].get("name", "")
    details: JSON = {"name": name, "group": group, "kind": resource}
    if not patch:
        DeleteOptions(uid=str(uid)).check(current, resource, group)
    message = f'Invalid value: "{uid}": field is immutable'
    details["causes"] = [
        {"reason": "FieldValueInvalid", "message": message, "field": "metadata.uid"}
    ]
    raise ApiError(
        422,
        "Invalid",
        f'{resource}.{group} "{name}" is invalid: metadata.uid: {message}',
        details=details,
    )
