"""The emulator's REST API for ``eventing.knative.dev/v1`` Brokers and Triggers.

The same conventions as the serving API (``harness.local.api``, which mounts these
routes behind its guard and error middleware): list and watch (label and field
selectors, ``?watch=1``), get, create, replace, merge and JSON patch, delete; ``Table``
views for kubectl. Admission (defaults and Knative's webhook validation) is
``harness.local.eventing.admission``; status comes from ``Eventing.reconcile`` right
after each write.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from harness.knative.patches import PatchError, json_patch, merge_patch
from harness.local.api_guard import read_body
from harness.local.eventing import admission, discovery
from harness.local.eventing.engine import Eventing
from harness.local.objectstore import JSON, ApiError

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
MAX_WATCH_SECONDS = 1800
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )


def _resource(request: web.Request) -> str:
    resource = request.match_info["resource"]
    if resource not in discovery.RESOURCES:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    return resource


def _namespace(request: web.Request) -> str:
    namespace = request.match_info["namespace"]
    if not _DNS1123_LABEL.match(namespace) or len(namespace) > 63:
        raise ApiError(400, "BadRequest", f'invalid namespace name "{namespace}"')
    return namespace


def _reject_dry_run(request: web.Request) -> None:
    if request.query.get("dryRun"):
        raise ApiError(400, "BadRequest", "dryRun is not supported by the harness emulator")


def _labels_match(selector: str, labels: dict[str, str]) -> bool:
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


def _fields_match(selector: str, obj: JSON) -> bool:
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


def _matcher(request: web.Request) -> Callable[[JSON], bool]:
    labels = request.query.get("labelSelector", "")
    fields = request.query.get("fieldSelector", "")
    return lambda obj: (
        _labels_match(labels, obj["metadata"].get("labels") or {}) and _fields_match(fields, obj)
    )


def _wants_table(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return any("as=Table" in part and "g=meta.k8s.io" in part for part in accept.split(","))


class EventingApi:
    """Handlers for Brokers and Triggers, bound to the emulator's store and Eventing."""

    def __init__(self, eventing: Eventing) -> None:
        self.eventing = eventing
        self.store = eventing.store

    def _render(self, request: web.Request, resource: str, objects: list[JSON]) -> JSON:
        if _wants_table(request):
            return discovery.table(
                resource,
                objects,
                self.store.resource_version,
                request.query.get("includeObject", "Metadata"),
            )
        return {
            "apiVersion": discovery.GROUP_VERSION,
            "kind": f"{discovery.RESOURCES[resource][1]}List",
            "metadata": {"resourceVersion": str(self.store.resource_version)},
            "items": objects,
        }

    async def list_all(self, request: web.Request) -> web.StreamResponse:
        return await self._list(request, _resource(request), None)

    async def list_namespaced(self, request: web.Request) -> web.StreamResponse:
        return await self._list(request, _resource(request), _namespace(request))

    async def _list(
        self, request: web.Request, resource: str, namespace: str | None
    ) -> web.StreamResponse:
        matches = _matcher(request)
        if request.query.get("watch") in ("1", "true", "True"):
            return await self._watch(request, resource, namespace, matches)
        objects = [o for o in self.store.list(resource, namespace) if matches(o)]
        return _json(self._render(request, resource, objects))

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
        initial = [] if since is not None else self.store.list(resource, namespace)
        queue = self.store.watch(resource, namespace, since)
        table = _wants_table(request)
        include = request.query.get("includeObject", "Metadata")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        deadline = time.monotonic() + timeout

        async def send(kind: str, obj: JSON, version: int) -> None:
            body = discovery.table(resource, [obj], version, include) if table else obj
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
            pass
        finally:
            self.store.unwatch(queue)
        return response

    async def get(self, request: web.Request) -> web.StreamResponse:
        resource, namespace = _resource(request), _namespace(request)
        name = request.match_info["name"]
        obj = self.store.get(resource, namespace, name)
        if obj is None:
            raise admission.not_found(resource, name)
        if _wants_table(request):
            return _json(self._render(request, resource, [obj]))
        return _json(obj)

    def _stored(self, resource: str, namespace: str, name: str) -> JSON:
        """Reconcile what was just written, then return it as stored."""
        self.eventing.reconcile(resource, namespace, name)
        if resource == "brokers":
            # A Broker's delivery and existence are part of its Triggers' status.
            for trigger in list(self.store.iter("triggers", namespace)):
                self.eventing.reconcile("triggers", namespace, trigger["metadata"]["name"])
        obj = self.store.get(resource, namespace, name)
        assert obj is not None
        return obj

    async def create(self, request: web.Request) -> web.StreamResponse:
        resource, namespace = _resource(request), _namespace(request)
        _reject_dry_run(request)
        body = await read_body(request)
        stored = admission.create(self.store, resource, namespace, body)
        return _json(self._stored(resource, namespace, stored["metadata"]["name"]), 201)

    async def replace(self, request: web.Request) -> web.StreamResponse:
        resource, namespace = _resource(request), _namespace(request)
        _reject_dry_run(request)
        name = request.match_info["name"]
        body = await read_body(request)
        admission.replace(self.store, resource, namespace, name, body)
        return _json(self._stored(resource, namespace, name))

    async def patch(self, request: web.Request) -> web.StreamResponse:
        resource, namespace = _resource(request), _namespace(request)
        _reject_dry_run(request)
        name = request.match_info["name"]
        kind = request.content_type
        patch = await read_body(request, (JSON_PATCH, MERGE_PATCH))
        current = self.store.get(resource, namespace, name)
        if current is None:
            raise admission.not_found(resource, name)
        try:
            patched = (
                merge_patch(current, patch) if kind == MERGE_PATCH else json_patch(current, patch)
            )
        except PatchError as exc:
            raise ApiError(422, "Invalid", f"the patch could not be applied: {exc}") from exc
        admission.replace(self.store, resource, namespace, name, patched)
        return _json(self._stored(resource, namespace, name))

    async def delete(self, request: web.Request) -> web.StreamResponse:
        resource, namespace = _resource(request), _namespace(request)
        _reject_dry_run(request)
        name = request.match_info["name"]
        gone = self.store.delete(resource, namespace, name)
        if gone is None:
            raise admission.not_found(resource, name)
        if resource == "brokers":
            for trigger in list(self.store.iter("triggers", namespace)):
                self.eventing.reconcile("triggers", namespace, trigger["metadata"]["name"])
        return _json(gone)

    def listed_in(self, groups: Handler, openapi: Handler) -> tuple[Handler, Handler]:
        """The ``/apis`` and ``/openapi/v3`` handlers with this group added to their lists."""
        return _listing(groups, _add_group), _listing(openapi, _add_openapi)

    async def group(self, request: web.Request) -> web.StreamResponse:
        return _json(discovery.api_group())

    async def group_resources(self, request: web.Request) -> web.StreamResponse:
        return _json(discovery.group_resources())

    async def openapi_v3_group(self, request: web.Request) -> web.StreamResponse:
        return _json(discovery.openapi_v3_group())


def add_routes(app: web.Application, api: EventingApi) -> None:
    """Mount the eventing group on ``app`` (before any catch-all route)."""
    prefix = discovery.PREFIX
    one = f"{prefix}/namespaces/{{namespace}}/{{resource}}/{{name}}"
    many = f"{prefix}/namespaces/{{namespace}}/{{resource}}"
    app.router.add_get(f"/openapi/v3/{discovery.OPENAPI_V3_GROUP_PATH}", api.openapi_v3_group)
    app.router.add_get(f"/apis/{discovery.GROUP_VERSION.split('/')[0]}", api.group)
    app.router.add_get(prefix, api.group_resources)
    app.router.add_get(f"{prefix}/{{resource}}", api.list_all)
    app.router.add_get(many, api.list_namespaced)
    app.router.add_post(many, api.create)
    app.router.add_get(one, api.get)
    app.router.add_put(one, api.replace)
    app.router.add_patch(one, api.patch)
    app.router.add_delete(one, api.delete)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _listing(handler: Handler, extend: Callable[[JSON], None]) -> Handler:
    async def listed(request: web.Request) -> web.StreamResponse:
        response = await handler(request)
        if not isinstance(response, web.Response) or response.status != 200:
            return response
        assert isinstance(response.body, bytes)
        body = json.loads(response.body)
        extend(body)
        return _json(body)

    return listed


def _add_group(body: JSON) -> None:
    body.setdefault("groups", []).append(discovery.api_group_entry())


def _add_openapi(body: JSON) -> None:
    body.setdefault("paths", {}).update(discovery.openapi_v3_index_entry())
