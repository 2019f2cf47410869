"""The read side of the emulator's Kubernetes-style API, shared by its API groups.

List (label and field selectors), watch (``?watch=1``: newline-delimited events, from a
``resourceVersion`` or from a listing) and get, each also as a ``meta.k8s.io`` ``Table``
when kubectl asks for one. ``harness.local.api`` (serving.knative.dev) and
``harness.local.eventing.api`` (eventing.knative.dev) subclass ``ResourceReads`` and say
which resources they serve, their kinds, tables and 404s; writes stay theirs.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from harness.local import label_selector
from harness.local.objectstore import JSON, ApiError, ObjectStore, WatchEvent

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


FIELDS = ("metadata.name", "metadata.namespace")


def field_selector(selector: str) -> Callable[[JSON], bool]:
    """A field selector on ``metadata.name`` and ``metadata.namespace`` as a predicate:
    400 for another field (what a CRD without selectableFields supports) or a term
    without an operator (fields.ParseSelector: ``invalid selector``)."""
    terms: list[tuple[str, str, bool]] = []
    for term in filter(None, (t.strip() for t in selector.split(","))):
        parts = re.split(r"!=|==|=", term, maxsplit=1)
        if len(parts) != 2:
            raise ApiError(
                400, "BadRequest", f"invalid selector: '{selector}'; can't understand '{term}'"
            )
        key, value = (part.strip() for part in parts)
        if key not in FIELDS:
            raise ApiError(400, "BadRequest", f'field label not supported: "{key}"')
        terms.append((key, value, "!=" in term))

    def matches(obj: JSON) -> bool:
        meta = obj["metadata"]
        have = {"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace")}
        return all((have[key] == value) != negate for key, value, negate in terms)

    return matches


def matcher(request: web.Request) -> Callable[[JSON], bool]:
    """The request's label and field selectors as one predicate."""
    # Parsed before anything is listed or streamed: a bad selector is 400 (labels.Parse).
    labels = label_selector.parse(request.query.get("labelSelector", ""))
    fields = field_selector(request.query.get("fieldSelector", ""))

    def matches(obj: JSON) -> bool:
        return labels(obj["metadata"].get("labels") or {}) and fields(obj)

    return matches


def _send_initial_events(query: Any) -> bool:
    """A watch's ``sendInitialEvents`` (the streaming list of KEP-3157), checked as
    ValidateListOptions does: it needs ``resourceVersionMatch=NotOlderThan`` and
    ``allowWatchBookmarks=true``, and a watch takes ``resourceVersionMatch`` only with it
    (422 otherwise)."""
    send = query.get("sendInitialEvents")
    match = query.get("resourceVersionMatch", "")
    bookmarks = query.get("allowWatchBookmarks") in ("true", "True", "1")
    invalid = ""
    if send is None:
        if match:
            invalid = (
                "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for "
                "watch unless sendInitialEvents is provided"
            )
    elif match != "NotOlderThan":
        invalid = (
            f'resourceVersionMatch: Unsupported value: "{match}": supported values: "NotOlderThan"'
        )
    elif not bookmarks:
        invalid = (
            "allowWatchBookmarks: Forbidden: allowWatchBookmarks must be set to true when "
            "sendInitialEvents is set"
        )
    if invalid:
        raise ApiError(422, "Invalid", f'ListOptions.meta.k8s.io "" is invalid: {invalid}')
    return send in ("true", "True", "1")


Key = tuple[str, str]


def _key(obj: JSON) -> Key:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


class _Selection:
    """Which objects a selective watch's client holds, so that an object entering the
    selection is ADDED and one leaving it DELETED (with its last matching content and
    the event's resourceVersion), as the watch cache's cacheWatcher.convertToWatchEvent
    does with the event's previous object. Where the previous state is unknown (an
    object's first event replayed from before the watch began), the event's own object
    stands for it."""

    def __init__(self, matches: Callable[[JSON], bool]) -> None:
        self.matches = matches
        self.selected: dict[Key, JSON] = {}
        self.known: set[Key] = set()

    def know(self, objects: Sequence[JSON]) -> None:
        """The state the client starts from."""
        for obj in objects:
            self.known.add(_key(obj))
            if self.matches(obj):
                self.selected[_key(obj)] = obj

    def event(self, kind: str, obj: JSON) -> tuple[str, JSON] | None:
        """The event the client gets for a store event (None: nothing to send)."""
        key = _key(obj)
        now = kind != "DELETED" and self.matches(obj)
        if key in self.known:
            previous = self.selected.get(key)
        elif kind == "ADDED":
            previous = None
        else:
            previous = obj if self.matches(obj) else None
        self.known.add(key)
        if now:
            self.selected[key] = obj
        else:
            self.selected.pop(key, None)
        if now:
            return ("MODIFIED" if previous is not None else "ADDED"), obj
        if previous is None:
            return None
        gone = copy.deepcopy(previous)
        gone["metadata"]["resourceVersion"] = obj["metadata"].get("resourceVersion")
        return "DELETED", gone


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

    async def delete_collection(self, request: web.Request) -> web.StreamResponse:
        """DELETE of a collection (``deletecollection``): 405, nothing deleted. Discovery
        does not list the verb; a cluster serves it for custom resources."""
        resource = self.resource(request)
        raise ApiError(
            405,
            "MethodNotAllowed",
            f"deletecollection is not supported on {resource} by the emulator: delete them "
            "one by one (as kubectl delete --all and -l do)",
        )

    async def status_write(self, request: web.Request) -> web.StreamResponse:
        """PUT/PATCH of the ``status`` subresource: refused (405), nothing written. On a
        cluster it is served (the CRDs declare ``subresources: status``) and Knative's
        reconcilers overwrite what was written; here the controllers alone write status."""
        resource = self.resource(request)
        raise ApiError(
            405,
            "MethodNotAllowed",
            f"{request.method} of {resource}/status is not supported by the emulator: its "
            "controllers alone write status (GET it, or change the spec)",
        )

    async def _list(
        self, request: web.Request, resource: str, namespace: str | None
    ) -> web.StreamResponse:
        matches = matcher(request)
        if request.query.get("watch") in ("1", "true", "True"):
            return await self._watch(request, resource, namespace, matches)
        self._check_list_version(request.query)
        # `limit` is ignored, so no `continue` is ever issued ("Servers may choose not to
        # support the limit argument and will return all of the available results":
        # ListOptions.limit); a continue token the emulator never gave is refused.
        if request.query.get("continue"):
            raise ApiError(
                400,
                "BadRequest",
                "invalid continue token: the emulator returns whole lists and issues none",
            )
        objects = [o for o in self.store.list(resource, namespace) if matches(o)]
        return json_response(self.render(request, resource, objects))

    def _check_list_version(self, query: Any) -> None:
        """A list's ``resourceVersion``/``resourceVersionMatch`` (the emulator serves only
        the current state, ``self.store.resource_version``), as the API server answers:

        - ``resourceVersionMatch`` without a ``resourceVersion``, or ``Exact`` with
          ``"0"``: 422 (ValidateListOptions); a value other than ``Exact`` or
          ``NotOlderThan``: 422 too;
        - ``Exact`` with an older version: 410 Expired (a cluster may still hold that
          state; the emulator keeps none, and says so rather than answer newer data);
        - a version newer than any handed out: 504 ``Too large resource version``
          (the watch cache's answer once it has waited for it).
        """
        version, match = query.get("resourceVersion", ""), query.get("resourceVersionMatch", "")
        invalid = ""
        if match and match not in ("Exact", "NotOlderThan"):
            invalid = (
                f'resourceVersionMatch: Unsupported value: "{match}": supported values: '
                '"Exact", "NotOlderThan", ""'
            )
        elif match and not version:
            invalid = (
                "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden "
                "unless resourceVersion is provided"
            )
        elif match == "Exact" and version == "0":
            invalid = (
                'resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden '
                'for resourceVersion "0"'
            )
        if invalid:
            raise ApiError(422, "Invalid", f'ListOptions.meta.k8s.io "" is invalid: {invalid}')
        if not version or version == "0":
            return
        try:
            wanted = int(version)
        except ValueError:
            raise ApiError(
                400, "BadRequest", f'invalid resource version "{version}": not a number'
            ) from None
        current = self.store.resource_version
        if wanted > current:
            raise ApiError(
                504,
                "Timeout",
                f"Too large resource version: {wanted}, current: {current}",
                details={
                    "causes": [
                        {
                            "reason": "ResourceVersionTooLarge",
                            "message": "Too large resource version",
                        }
                    ],
                    "retryAfterSeconds": 1,
                },
            )
        if match == "Exact" and wanted != current:
            raise ApiError(
                410,
                "Expired",
                f"The resourceVersion for the provided list is too old ({wanted}); the "
                f"emulator serves only the current state ({current})",
            )

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
        initial_events = _send_initial_events(request.query)
        if initial_events:
            # A streaming list: the current state is "not older than" any version given.
            since = None
        # Listing and subscribing with no await in between: no event is lost or doubled.
        initial = [] if since is not None else self.store.list(resource, namespace)
        listed_at = self.store.resource_version
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        try:
            queue = self.store.watch(resource, namespace, since)
        except ApiError as exc:
            if exc.code != 410:
                raise
            # A too-old resourceVersion: 200 and one ERROR event carrying the 410 Status,
            # as the API server's watch cache answers (cacher: newErrWatcher); clients
            # (client-go's reflector, the Python client's Watch) relist on it.
            await response.prepare(request)
            await response.write(
                json.dumps({"type": "ERROR", "object": exc.status()}).encode() + b"\n"
            )
            return response
        selection: _Selection | None = None
        replay: list[WatchEvent] = []
        if request.query.get("labelSelector") or request.query.get("fieldSelector"):
            selection = _Selection(matches)
            # Still with no await: the events replayed from `since`, and the state at
            # `since` of every object they do not touch (the current one).
            while not queue.empty():
                queued = queue.get_nowait()
                if queued is not None:
                    replay.append(queued)
            touched = {_key(e.object) for e in replay}
            selection.know(
                initial
                if since is None
                else [o for o in self.store.list(resource, namespace) if _key(o) not in touched]
            )
        table = wants_table(request)
        include = request.query.get("includeObject", "Metadata")
        deadline = time.monotonic() + timeout

        async def send(kind: str, obj: JSON, version: int) -> None:
            body = self.table(resource, [obj], version, include) if table else obj
            await response.write(json.dumps({"type": kind, "object": body}).encode() + b"\n")

        try:
            await response.prepare(request)
            for obj in initial:
                if matches(obj):
                    await send("ADDED", obj, listed_at)
            if initial_events:
                # The end of the initial events (KEP-3157, client-go's WatchList waits
                # for it): a BOOKMARK annotated k8s.io/initial-events-end.
                mark = {
                    "kind": self.kind(resource),
                    "apiVersion": self.group_version,
                    "metadata": {
                        "resourceVersion": str(listed_at),
                        "annotations": {"k8s.io/initial-events-end": "true"},
                    },
                }
                await response.write(
                    json.dumps({"type": "BOOKMARK", "object": mark}).encode() + b"\n"
                )
            for replayed in replay:
                await self._relay(send, replayed, matches, selection)
            while (remaining := deadline - time.monotonic()) > 0:
                try:
                    event = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    break
                if event is None:
                    break
                await self._relay(send, event, matches, selection)
        except (ConnectionError, asyncio.CancelledError):
            # The client went away: nothing to answer, the watch just ends.
            pass
        finally:
            self.store.unwatch(queue)
        return response

    @staticmethod
    async def _relay(
        send: Callable[[str, JSON, int], Awaitable[None]],
        event: WatchEvent,
        matches: Callable[[JSON], bool],
        selection: _Selection | None,
    ) -> None:
        if selection is None:
            if matches(event.object):
                await send(event.type, event.object, event.resource_version)
            return
        relayed = selection.event(event.type, event.object)
        if relayed is not None:
            await send(relayed[0], relayed[1], event.resource_version)
