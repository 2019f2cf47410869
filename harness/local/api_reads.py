"""The read side of the emulator's Kubernetes-style API, shared by its API groups.

List (label and field selectors), watch (``?watch=1``: newline-delimited events, from a
``resourceVersion`` or from a listing) and get, each also as a ``meta.k8s.io`` ``Table``
when kubectl asks for one. ``harness.local.api`` (serving.knative.dev) and
``harness.local.eventing.api`` (eventing.knative.dev) subclass ``ResourceReads`` and say
which resources they serve, their kinds, tables and 404s; writes stay theirs.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from harness.local.objectstore import JSON, ApiError, ObjectStore

MAX_WATCH_SECONDS = 1800
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def json_response(body: Any, status: int = 200) -> web.Response:
    """``body`` as JSON, typed exactly ``application/json`` (lightkube compares it verbatim)."""
    return web.Response(
        status=status, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )


def namespace_of(request: web.Request) -> str:
    """The path's namespace, a DNS-1123 label (400 otherwise, as Kubernetes)."""
    namespace = request.match_info["namespace"]
    if not _DNS1123_LABEL.match(namespace) or len(namespace) > 63:
        raise ApiError(400, "BadRequest", f'invalid namespace name "{namespace}"')
    return namespace


def wants_table(request: web.Request) -> bool:
    """Whether the Accept header asks for a meta.k8s.io Table (kubectl get does)."""
    accept = request.headers.get("Accept", "")
    return any("as=Table" in part and "g=meta.k8s.io" in part for part in accept.split(","))


def label_matches(selector: str, labels: dict[str, str]) -> bool:
    """Kubernetes' equality-based label selector: ``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (s.strip() for s in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def field_matches(selector: str, obj: JSON) -> bool:
    """A field selector on ``metadata.name`` and ``metadata.namespace`` (400 for others)."""
    meta = obj["metadata"]
    for term in filter(None, (t.strip() for t in selector.split(","))):
        negate = "!=" in term
        key, value = (s.strip() for s in re.split(r"!=|==|=", term, maxsplit=1))
        fields = {"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace")}
        if key not in fields:
            raise ApiError(400, "BadRequest", f'field label not supported: "{key}"')
        if (fields[key] == value) == negate:
            return False
    return True


def matcher(request: web.Request) -> Callable[[JSON], bool]:
    """The request's label and field selectors as one predicate."""
    labels = request.query.get("labelSelector", "")
    fields = request.query.get("fieldSelector", "")

    def matches(obj: JSON) -> bool:
        return label_matches(labels, obj["metadata"].get("labels") or {}) and field_matches(
            fields, obj
        )

    return matches


class ResourceReads:
    """List, watch and get handlers over one store; subclasses name their resources."""

    group_version: str = ""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    # ----- what a subclass says about its group -----

    def kind(self, resource: str) -> str:
        raise NotImplementedError

    def resource(self, request: web.Request) -> str:
        """The path's resource, 404 when this group does not serve it."""
        raise NotImplementedError

    def table(self, resource: str, objects: Sequence[JSON], version: int, include: str) -> JSON:
        raise NotImplementedError

    def missing(self, resource: str, name: str) -> ApiError:
        raise NotImplementedError

    # ----- handlers -----

    def render(self, request: web.Request, resource: str, objects: list[JSON]) -> JSON:
        """A list of ``objects``, or their Table when the client asked for one."""
        if wants_table(request):
            include = request.query.get("includeObject", "Metadata")
            return self.table(resource, objects, self.store.resource_version, include)
        return {
            "apiVersion": self.group_version,
            "kind": f"{self.kind(resource)}List",
            "metadata": {"resourceVersion": str(self.store.resource_version)},
            "items": objects,
        }

    async def list_all(self, request: web.Request) -> web.StreamResponse:
        return await self._list(request, self.resource(request), None)

    async def list_namespaced(self, request: web.Request) -> web.StreamResponse:
        return await self._list(request, self.resource(request), namespace_of(request))

    async def get(self, request: web.Request) -> web.StreamResponse:
        resource, namespace = self.resource(request), namespace_of(request)
        name = request.match_info["name"]
        obj = self.store.get(resource, namespace, name)
        if obj is None:
            raise self.missing(resource, name)
        if wants_table(request):
            return json_response(self.render(request, resource, [obj]))
        return json_response(obj)

    async def _list(
        self, request: web.Request, resource: str, namespace: str | None
    ) -> web.StreamResponse:
        matches = matcher(request)
        if request.query.get("watch") in ("1", "true", "True"):
            return await self._watch(request, resource, namespace, matches)
        objects = [o for o in self.store.list(resource, namespace) if matches(o)]
        return json_response(self.render(request, resource, objects))

    async def _watch(
        self,
        request: web.Request,
        resource: str,
        namespace: str | None,
        matches: Callable[[JSON], bool],
    ) -> web.StreamResponse:
        version = request.query.get("resourceVersion", "")
        try:
            timeout = min(
                float(request.query.get("timeoutSeconds", MAX_WATCH_SECONDS)), MAX_WATCH_SECONDS
            )
            since = int(version) if version not in ("", "0") else None
        except ValueError as exc:
            raise ApiError(400, "BadRequest", f"invalid watch parameter: {exc}") from exc
        # Listing and subscribing with no await in between: no event is lost or doubled.
        initial = [] if since is not None else self.store.list(resource, namespace)
        queue = self.store.watch(resource, namespace, since)
        table = wants_table(request)
        include = request.query.get("includeObject", "Metadata")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        deadline = time.monotonic() + timeout

        async def send(kind: str, obj: JSON, version: int) -> None:
            body = self.table(resource, [obj], version, include) if table else obj
            await response.write(json.dumps({"type": kind, "object": body}).encode() + b"\n")

        try:
            await response.prepare(request)
            for obj in initial:
                if matches(obj):
                    await send("ADDED", obj, self.store.resource_version)
            while (remaining := deadline - time.monotonic()) > 0:
                try:
                    event = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    break
                if event is None:
                    break
                if matches(event.object):
                    await send(event.type, event.object, event.resource_version)
        except (ConnectionError, asyncio.CancelledError):
            # The client went away: nothing to answer, the watch just ends.
            pass
        finally:
            self.store.unwatch(queue)
        return response
