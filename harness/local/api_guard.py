"""The emulator API's front door: who may call it, and what a request body may be.

Every request, before any handler runs (docs/emulator.md, "Threat model"):

1. `Host` must name the loopback address and port the API listens on (`127.0.0.1:PORT`
   or `localhost:PORT`): anything else is 421 Misdirected Request. A web page that
   rebinds its own DNS name to 127.0.0.1 sends its own name as Host, so it stops here.
2. An `Origin` header (sent by browsers, never by kubectl or client libraries) must be
   the API's own origin, else 403: no web page may drive the API.
3. `Authorization: Bearer <token>` must carry the token the daemon generated at start
   and wrote into its kubeconfig (compared in constant time), else 401 `Unauthorized`,
   as the Kubernetes API server answers an unauthenticated request.

Bodies (`read_body`): POST and PUT take `application/json` or `application/yaml` (what
the Kubernetes API server accepts for a custom resource; no Content-Type at all is read
as JSON, as kube-apiserver does), PATCH only the patch types the handler names; anything
else is 415. A body is at most `MAX_BODY_BYTES` (the API
server's 3 MiB request limit), at most `MAX_DEPTH` levels deep and at most `MAX_VALUES`
values (YAML aliases counted as expanded): 413 or 400 otherwise, never a 500.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import yaml
from aiohttp import web
from aiohttp.typedefs import Middleware

from harness.local.objectstore import ApiError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

JSON_TYPE = "application/json"
YAML_TYPES = ("application/yaml", "application/x-yaml")
BODY_TYPES = (JSON_TYPE, *YAML_TYPES)
MAX_BODY_BYTES = 3 * 1024 * 1024  # kube-apiserver's MaxRequestBodyBytes
MAX_DEPTH = 100  # a Knative Service is about 10 levels deep
MAX_VALUES = 200_000
LOOPBACK_NAMES = ("127.0.0.1", "localhost")


def unauthorized() -> ApiError:
    """401 with the body kube-apiserver sends for a missing or wrong credential."""
    return ApiError(401, "Unauthorized", "Unauthorized")


def _status(err: ApiError) -> web.Response:
    body = err.status()
    body.pop("metadata", None)  # kube-apiserver's 401 carries none either
    return web.Response(
        status=err.code,
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )


def _local_port(request: web.Request) -> int | None:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        return int(sockname[1])
    return None


def allowed_hosts(port: int) -> frozenset[str]:
    """The `Host` values a request to the API on `port` may carry."""
    return frozenset(f"{name}:{port}" for name in LOOPBACK_NAMES)


def check_request(headers: Any, port: int | None, token: str) -> ApiError | None:
    """The refusal for a request with these headers to the API on `port`, or None."""
    hosts = allowed_hosts(port) if port is not None else frozenset()
    host = str(headers.get("Host", "")).lower()
    if host not in hosts:
        return ApiError(
            421,
            "MisdirectedRequest",
            f"the API answers only requests to {' or '.join(sorted(hosts)) or 'its address'}",
        )
    origin = headers.get("Origin")
    if origin is not None and origin.lower() not in {f"https://{h}" for h in hosts}:
        return ApiError(403, "Forbidden", "cross-origin requests are not allowed")
    scheme, _, credential = str(headers.get("Authorization", "")).partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(
        credential.strip().encode(), token.encode()
    ):
        return unauthorized()
    return None


def guard(token: str) -> Middleware:
    """The middleware that refuses requests `check_request` refuses."""
    if len(token) < 32:
        raise ValueError("the API token must be at least 32 characters")

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        refusal = check_request(request.headers, _local_port(request), token)
        if refusal is not None:
            return _status(refusal)
        return await handler(request)

    return middleware


def unsupported_media_type(accepted: tuple[str, ...]) -> ApiError:
    """415 as kube-apiserver words it."""
    return ApiError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(accepted),
    )


async def read_body(request: web.Request, accepted: tuple[str, ...] = BODY_TYPES) -> Any:
    """The request's body, parsed, if its content type is in `accepted` and it is
    within the bounds above; ApiError (415, 413, 400) otherwise."""
    kind = request.content_type
    if "Content-Type" not in request.headers and JSON_TYPE in accepted:
        # kube-apiserver reads a body without a type as its first media type, JSON
        # (NegotiateInputSerializerForMediaType); the kubernetes Python client relies on it.
        kind = JSON_TYPE
    if kind not in accepted:
        raise unsupported_media_type(accepted)
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise _too_large()
    raw = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise _too_large()
    return parse_body(bytes(raw), kind)


def parse_body(raw: bytes, content_type: str) -> Any:
    """`raw` parsed as JSON or YAML (by `content_type`), checked against the bounds."""
    try:
        value = yaml.safe_load(raw) if content_type in YAML_TYPES else json.loads(raw)
    except RecursionError:
        raise _too_deep() from None
    except (ValueError, yaml.YAMLError) as exc:
        raise ApiError(400, "BadRequest", f"the request body is not valid JSON: {exc}") from None
    check_shape(value)
    return value


def check_shape(value: Any) -> None:
    """400 when `value` nests deeper than MAX_DEPTH or holds more than MAX_VALUES values
    (a value reached twice, as through a YAML alias, counts twice; the walk stops at
    the bound, so it is cheap even for an alias bomb)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    seen = 0
    while pending:
        item, depth = pending.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise ApiError(
                400, "BadRequest", f"the request body holds more than {MAX_VALUES:,} values"
            )
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise _too_deep()
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)


def _too_deep() -> ApiError:
    return ApiError(
        400, "BadRequest", f"the request body is nested more than {MAX_DEPTH} levels deep"
    )


def _too_large() -> ApiError:
    return ApiError(
        413,
        "RequestEntityTooLarge",
        f"the request body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB",
    )
