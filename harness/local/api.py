"""The emulator's Kubernetes-style REST API for serving.knative.dev/v1 (aiohttp).

Paths, verbs, content types and error bodies follow the Kubernetes API conventions, so
kubectl and lightkube talk to it as to a cluster:

- discovery: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/serving.knative.dev[/v1]`;
- `/apis/serving.knative.dev/v1/[namespaces/{ns}/]{services|revisions|routes|configurations}`:
  list (label and field selectors), watch (`?watch=1`, newline-delimited events);
- `.../namespaces/{ns}/{resource}/{name}`: get; for services and standalone routes (not
  owned by a Service) also create (POST on the collection), replace (PUT), patch
  (`application/merge-patch+json`, `application/json-patch+json`) and delete; revisions
  can be deleted; a Service's Route and configurations are read-only (405), except that
  configurations and revisions take a dry-run create (`?dryRun=All`: Knative's defaulting
  and validation, nothing stored);
- `Accept: application/json;as=Table;g=meta.k8s.io;v=v1` gets a `Table` (kubectl get).

Every request passes `api_guard` first (loopback Host, no foreign Origin, the bearer
token of the kubeconfig); bodies are read through it (content types, size, depth).
Every failure is a Kubernetes `Status` body with its code; an unexpected error is a 500
with the same shape, logged, and the daemon keeps serving.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from harness.knative.model import SERVING_GROUP
from harness.knative.patches import PatchError, json_patch, merge_patch
from harness.local import discovery
from harness.local.admission import set_request_user
from harness.local.api_guard import guard, read_body
from harness.local.api_reads import ResourceReads, json_response, namespace_of
from harness.local.controller import Controller
from harness.local.eventing.api import EventingApi, add_routes
from harness.local.objects import being_deleted
from harness.local.objectstore import JSON, ApiError, not_found
from harness.local.write_options import (
    attach_warnings,
    check_fields,
    check_uid,
    delete_options,
    field_validation,
    is_dry_run,
    refuse_orphaning,
    warnings_of,
    with_warnings,
)

log = logging.getLogger(__name__)

PREFIX = f"/apis/{discovery.GROUP_VERSION}"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
WRITABLE = ("services", "routes")
# Created only as a server-side dry run (`kubectl apply --dry-run=server`): admission alone.
DRY_RUN_CREATE = ("configurations", "revisions")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return with_warnings(json_response(exc.status(), exc.code), warnings_of(exc))
    except web.HTTPException:
        raise
    except ConnectionError:
        # The client went away mid-request; nobody is left to read an answer.
        log.info("client left during %s %s", request.method, request.path)
        return web.Response(status=499)
    except Exception:
        log.exception("internal error serving %s %s", request.method, request.path)
        err = ApiError(500, "InternalError", "an internal error occurred in the emulator")
        return json_response(err.status(), 500)


def _not_served() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def _resource(request: web.Request) -> str:
    resource = request.match_info["resource"]
    if resource not in discovery.RESOURCES:
        raise _not_served()
    return resource


def _kind(resource: str) -> str:
    return discovery.RESOURCES[resource].kind


# ----- handlers -----


class Api(ResourceReads):
    """Request handlers bound to one controller (and its store); reads are ResourceReads'."""

    group_version = discovery.GROUP_VERSION

    def __init__(self, controller: Controller) -> None:
        super().__init__(controller.store)
        self.controller = controller

    def kind(self, resource: str) -> str:
        return _kind(resource)

    def resource(self, request: web.Request) -> str:
        return _resource(request)

    def table(self, resource: str, objects: Sequence[JSON], version: int, include: str) -> JSON:
        return discovery.table(resource, objects, version, include)

    def missing(self, resource: str, name: str) -> ApiError:
        return not_found(resource, name)

    def _require_writable(self, resource: str, verb: str, dry_run: bool = False) -> None:
        # Which Routes are writable (not a Service's) is the controller's to say.
        if resource in DRY_RUN_CREATE and verb == "create":
            if dry_run:
                return
            raise ApiError(
                405,
                "MethodNotAllowed",
                f"create is not supported on {resource}.{SERVING_GROUP}: the emulator runs "
                "Configurations and Revisions only through their Service (a server-side dry "
                "run, dryRun=All, runs Knative's defaulting and validation and stores nothing)",
            )
        if resource not in WRITABLE:
            raise ApiError(
                405,
                "MethodNotAllowed",
                f"{verb} is not supported on {resource}.{SERVING_GROUP}: they are "
                "managed by their Service",
            )

    async def create(self, request: web.Request) -> web.StreamResponse:
        resource, namespace = _resource(request), namespace_of(request)
        dry_run = is_dry_run(request.query)
        self._require_writable(resource, "create", dry_run)
        set_request_user(request.headers)
        mode = field_validation(request.query)
        body, warnings = check_fields(await read_body(request), _kind(resource), mode)
        admission = self.controller.admission
        try:
            if dry_run:
                created = admission.create(resource, namespace, body, dry_run=True)
            elif resource == "routes":
                created = self.controller.create_route(namespace, body)
            else:
                created = self.controller.create_service(namespace, body)
        except ApiError as exc:
            raise attach_warnings(exc, warnings + admission.last_warnings) from None
        return with_warnings(json_response(created, 201), warnings + admission.last_warnings)

    async def replace(self, request: web.Request) -> web.StreamResponse:
        resource, namespace = _resource(request), namespace_of(request)
        self._require_writable(resource, "update")
        set_request_user(request.headers)
        dry_run = is_dry_run(request.query)
        mode = field_validation(request.query)
        body, warnings = check_fields(await read_body(request), _kind(resource), mode)
        name = request.match_info["name"]
        current = self.store.get(resource, namespace, name)
        check_uid(body, current, resource, SERVING_GROUP, patch=False)
        return self._answer_replace(resource, namespace, name, body, dry_run, warnings)

    def _answer_replace(
        self,
        resource: str,
        namespace: str,
        name: str,
        body: Any,
        dry_run: bool,
        warnings: list[str],
    ) -> web.Response:
        """The replacement's answer with its warnings (unknown fields, Knative's)."""
        admission = self.controller.admission
        try:
            replaced = self._replace(resource, namespace, name, body, dry_run)
        except ApiError as exc:
            raise attach_warnings(exc, warnings + admission.last_warnings) from None
        return with_warnings(json_response(replaced), warnings + admission.last_warnings)

    def _replace(
        self, resource: str, namespace: str, name: str, body: Any, dry_run: bool = False
    ) -> JSON:
        if dry_run:
            if resource == "routes":
                self.controller.check_route_writable(namespace, name, "update")
            admission = self.controller.admission
            return admission.replace(resource, namespace, name, body, dry_run=True)[0]
        if resource == "routes":
            return self.controller.replace_route(namespace, name, body)
        return self.controller.replace_service(namespace, name, body)

    async def patch(self, request: web.Request) -> web.StreamResponse:
        resource, namespace = _resource(request), namespace_of(request)
        self._require_writable(resource, "patch")
        set_request_user(request.headers)
        dry_run = is_dry_run(request.query)
        mode = field_validation(request.query)
        name = request.match_info["name"]
        kind = request.content_type
        patch = await read_body(request, (JSON_PATCH, MERGE_PATCH))
        if resource == "routes":
            self.controller.check_route_writable(namespace, name, "patch")
        current = self.store.get(resource, namespace, name)
        if current is None:
            raise not_found(resource, name)
        try:
            patched = (
                merge_patch(current, patch) if kind == MERGE_PATCH else json_patch(current, patch)
            )
        except PatchError as exc:
            raise ApiError(422, "Invalid", f"the patch could not be applied: {exc}") from exc
        patched, warnings = check_fields(patched, _kind(resource), mode)
        check_uid(patched, current, resource, SERVING_GROUP, patch=True)
        return self._answer_replace(resource, namespace, name, patched, dry_run, warnings)

    async def delete(self, request: web.Request) -> web.StreamResponse:
        resource, namespace = _resource(request), namespace_of(request)
        name = request.match_info["name"]
        options = await delete_options(request)
        current = self.store.get(resource, namespace, name)
        if current is not None:
            options.check(current, resource, SERVING_GROUP)
        if resource == "services":
            refuse_orphaning(options, resource, SERVING_GROUP, "Configuration, Route and Revisions")
        if options.dry_run:
            # What would be deleted; nothing is (kubectl sends dryRun in the body).
            if current is None:
                raise not_found(resource, name)
            return json_response(current)
        gone = self.controller.delete(resource, namespace, name)
        # 202 Accepted: marked for deletion, waiting for its finalizers (as Kubernetes).
        return json_response(gone, 202 if being_deleted(gone) else 200)

    # ----- discovery and the few core endpoints kubectl touches -----

    async def version(self, request: web.Request) -> web.StreamResponse:
        return json_response(discovery.version_info())

    async def core_versions(self, request: web.Request) -> web.StreamResponse:
        host = request.host or "127.0.0.1"
        return json_response(discovery.api_versions(host))

    async def core_resources(self, request: web.Request) -> web.StreamResponse:
        return json_response(discovery.core_resources())

    async def groups(self, request: web.Request) -> web.StreamResponse:
        return json_response(discovery.api_groups())

    async def group(self, request: web.Request) -> web.StreamResponse:
        return json_response(discovery.api_group())

    async def group_resources(self, request: web.Request) -> web.StreamResponse:
        return json_response(discovery.group_resources())

    async def namespaces(self, request: web.Request) -> web.StreamResponse:
        items = [discovery.namespace_object(n) for n in sorted(self.store.namespaces)]
        return json_response(
            {
                "kind": "NamespaceList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": str(self.store.resource_version)},
                "items": items,
            }
        )

    async def namespace(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["namespace"]
        if name not in self.store.namespaces:
            raise ApiError(404, "NotFound", f'namespaces "{name}" not found')
        return json_response(discovery.namespace_object(name))

    async def events(self, request: web.Request) -> web.StreamResponse:
        # The emulator records no events; describe shows "<none>".
        return json_response({"kind": "EventList", "apiVersion": "v1", "metadata": {}, "items": []})

    async def openapi_v3(self, request: web.Request) -> web.StreamResponse:
        return json_response(discovery.openapi_v3_index())

    async def openapi_v3_group(self, request: web.Request) -> web.StreamResponse:
        return json_response(discovery.openapi_v3_group())

    async def healthz(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok")

    async def unknown(self, request: web.Request) -> web.StreamResponse:
        raise _not_served()


def make_app(
    controller: Controller, token: str, eventing: EventingApi | None = None
) -> web.Application:
    """The aiohttp application serving the API for `controller` to holders of `token`
    (and, given `eventing`, eventing.knative.dev/v1: docs/eventing.md)."""
    api = Api(controller)
    app = web.Application(middlewares=[guard(token), _errors])
    groups: Handler = api.groups
    openapi: Handler = api.openapi_v3
    if eventing is not None:
        add_routes(app, eventing)
        groups, openapi = eventing.listed_in(groups, openapi)
    one = f"{PREFIX}/namespaces/{{namespace}}/{{resource}}/{{name}}"
    many = f"{PREFIX}/namespaces/{{namespace}}/{{resource}}"
    app.router.add_get("/version", api.version)
    app.router.add_get("/healthz", api.healthz)
    app.router.add_get("/readyz", api.healthz)
    app.router.add_get("/livez", api.healthz)
    app.router.add_get("/openapi/v3", openapi)
    app.router.add_get(f"/openapi/v3/{discovery.OPENAPI_V3_GROUP_PATH}", api.openapi_v3_group)
    app.router.add_get("/api", api.core_versions)
    app.router.add_get("/api/v1", api.core_resources)
    app.router.add_get("/api/v1/namespaces", api.namespaces)
    app.router.add_get("/api/v1/namespaces/{namespace}", api.namespace)
    app.router.add_get("/api/v1/namespaces/{namespace}/events", api.events)
    app.router.add_get("/api/v1/events", api.events)
    app.router.add_get("/apis", groups)
    app.router.add_get(f"/apis/{discovery.GROUP}", api.group)
    app.router.add_get(PREFIX, api.group_resources)
    app.router.add_get(f"{PREFIX}/{{resource}}", api.list_all)
    app.router.add_get(many, api.list_namespaced)
    app.router.add_post(many, api.create)
    app.router.add_delete(many, api.delete_collection)
    app.router.add_get(one, api.get)
    app.router.add_put(one, api.replace)
    app.router.add_patch(one, api.patch)
    app.router.add_delete(one, api.delete)
    # The CRDs' status subresource: readable (kubectl get --subresource=status).
    app.router.add_get(f"{one}/status", api.get)
    app.router.add_put(f"{one}/status", api.status_write)
    app.router.add_patch(f"{one}/status", api.status_write)
    app.router.add_route("*", "/{tail:.*}", api.unknown)
    return app
