"""The emulator's REST API for ``eventing.knative.dev/v1`` Brokers and Triggers.

The same conventions as the serving API (``harness.local.api``, which mounts these
routes behind its guard and error middleware): list and watch (label and field
selectors, ``?watch=1``), get, create, replace, merge and JSON patch, delete; ``Table``
views for kubectl. Writes take the API server's write options as the serving API does
(``harness.local.write_options``): ``dryRun=All`` (admission runs, the answer is the
object as it would be stored, nothing is stored or reconciled) and ``fieldValidation``
(fields outside the CRD schema of knative/eventing refused, or dropped with a warning).
Admission (defaults and Knative's webhook validation) is
``harness.local.eventing.admission``; status comes from ``Eventing.reconcile`` right
after each write.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from harness.knative.model import EVENTING_GROUP
from harness.knative.patches import PatchError, json_patch, merge_patch
from harness.local.api_guard import read_body
from harness.local.api_reads import ResourceReads, json_response, namespace_of
from harness.local.eventing import admission, discovery
from harness.local.eventing.engine import Eventing
from harness.local.objectstore import JSON, ApiError
from harness.local.write_options import (
    attach_warnings,
    check_fields,
    check_uid,
    delete_options,
    field_validation,
    is_dry_run,
    with_warnings,
)

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def _resource(request: web.Request) -> str:
    resource = request.match_info["resource"]
    if resource not in discovery.RESOURCES:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    return resource


class EventingApi(ResourceReads):
    """Handlers for Brokers and Triggers, bound to the emulator's store and Eventing."""

    group_version = discovery.GROUP_VERSION

    def __init__(self, eventing: Eventing) -> None:
        super().__init__(eventing.store)
        self.eventing = eventing

    def kind(self, resource: str) -> str:
        return discovery.RESOURCES[resource][1]

    def resource(self, request: web.Request) -> str:
        return _resource(request)

    def table(self, resource: str, objects: Sequence[JSON], version: int, include: str) -> JSON:
        return discovery.table(resource, objects, version, include)

    def missing(self, resource: str, name: str) -> ApiError:
        return admission.not_found(resource, name)

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
        resource, namespace = _resource(request), namespace_of(request)
        dry_run = is_dry_run(request.query)
        mode = field_validation(request.query)
        body, warnings = check_fields(await read_body(request), self.kind(resource), mode)
        try:
            stored = admission.create(self.store, resource, namespace, body, dry_run=dry_run)
        except ApiError as exc:
            raise attach_warnings(exc, warnings) from None
        if not dry_run:
            stored = self._stored(resource, namespace, stored["metadata"]["name"])
        return with_warnings(json_response(stored, 201), warnings)

    async def replace(self, request: web.Request) -> web.StreamResponse:
        resource, namespace = _resource(request), namespace_of(request)
        dry_run = is_dry_run(request.query)
        mode = field_validation(request.query)
        name = request.match_info["name"]
        body, warnings = check_fields(await read_body(request), self.kind(resource), mode)
        current = self.store.get(resource, namespace, name)
        check_uid(body, current, resource, EVENTING_GROUP, patch=False)
        return self._replace(resource, namespace, name, body, dry_run, warnings)

    def _replace(
        self,
        resource: str,
        namespace: str,
        name: str,
        body: JSON,
        dry_run: bool,
        warnings: list[str],
    ) -> web.Response:
        try:
            replaced = admission.replace(
                self.store, resource, namespace, name, body, dry_run=dry_run
            )
        except ApiError as exc:
            raise attach_warnings(exc, warnings) from None
        if not dry_run:
            replaced = self._stored(resource, namespace, name)
        return with_warnings(json_response(replaced), warnings)

    async def patch(self, request: web.Request) -> web.StreamResponse:
        resource, namespace = _resource(request), namespace_of(request)
        dry_run = is_dry_run(request.query)
        mode = field_validation(request.query)
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
        # As the API server: the patched object is what is checked for unknown fields.
        patched, warnings = check_fields(patched, self.kind(resource), mode)
        check_uid(patched, current, resource, EVENTING_GROUP, patch=True)
        return self._replace(resource, namespace, name, patched, dry_run, warnings)

    async def delete(self, request: web.Request) -> web.StreamResponse:
        resource, namespace = _resource(request), namespace_of(request)
        name = request.match_info["name"]
        options = await delete_options(request)
        current = self.store.get(resource, namespace, name)
        if current is not None:
            options.check(current, resource, EVENTING_GROUP)
        if options.dry_run:
            # What would be deleted; nothing is.
            if current is None:
                raise admission.not_found(resource, name)
            return json_response(current)
        gone = self.store.delete(resource, namespace, name)
        if gone is None:
            raise admission.not_found(resource, name)
        if resource == "brokers":
            for trigger in list(self.store.iter("triggers", namespace)):
                self.eventing.reconcile("triggers", namespace, trigger["metadata"]["name"])
        return json_response(gone)

    def listed_in(self, groups: Handler, openapi: Handler) -> tuple[Handler, Handler]:
        """The ``/apis`` and ``/openapi/v3`` handlers with this group added to their lists."""
        return _listing(groups, _add_group), _listing(openapi, _add_openapi)

    async def group(self, request: web.Request) -> web.StreamResponse:
        return json_response(discovery.api_group())

    async def group_resources(self, request: web.Request) -> web.StreamResponse:
        return json_response(discovery.group_resources())

    async def openapi_v3_group(self, request: web.Request) -> web.StreamResponse:
        return json_response(discovery.openapi_v3_group())


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
    app.router.add_delete(many, api.delete_collection)
    app.router.add_get(one, api.get)
    app.router.add_put(one, api.replace)
    app.router.add_patch(one, api.patch)
    app.router.add_delete(one, api.delete)
    app.router.add_get(f"{one}/status", api.get)
    app.router.add_put(f"{one}/status", api.status_write)
    app.router.add_patch(f"{one}/status", api.status_write)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _listing(handler: Handler, extend: Callable[[JSON], None]) -> Handler:
    async def listed(request: web.Request) -> web.StreamResponse:
        response = await handler(request)
        if not isinstance(response, web.Response) or response.status != 200:
            return response
        assert isinstance(response.body, bytes)
        body = json.loads(response.body)
        extend(body)
        return json_response(body)

    return listed


def _add_group(body: JSON) -> None:
    body.setdefault("groups", []).append(discovery.api_group_entry())


def _add_openapi(body: JSON) -> None:
    body.setdefault("paths", {}).update(discovery.openapi_v3_index_entry())
