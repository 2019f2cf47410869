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
from harness.local.objectstore import ApiError

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


async def delete_dry_run(request: web.Request) -> bool:
    """A delete's dry run: ``?dryRun=All``, or ``dryRun: [All]`` in the DeleteOptions
    body (where kubectl ``delete --dry-run=server`` puts it)."""
    if is_dry_run(request.query):
        return True
    if not request.can_read_body:
        return False
    options = await read_body(request)
    values = options.get("dryRun") if isinstance(options, dict) else None
    if not isinstance(values, list) or not values:
        return False
    return is_dry_run(MultiDict(("dryRun", str(v)) for v in values))
