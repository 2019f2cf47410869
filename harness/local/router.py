"""The emulator's ingress: one HTTP port, routing by ``Host`` like Knative's networking layer.

:func:`route_hosts` turns a Route's ``status.traffic`` into per-host routes the way
``pkg/reconciler/route/traffic`` and ``resources/ingress.go`` do: the main host splits by
every entry's percent (entries of one revision merged, 0% entries dropped), each tag host
sends everything to its revision (or, while a tagged target rolls out gradually and so
has one entry per revision, splits by those entries' percents), and the cluster-local
names route like the external ones. :class:`Router` serves such a table: a weighted
random pick per request (unbiased: a uniform draw over a table of ``sum(percent)``
slots), then a proxy through a pooled, keep-alive aiohttp session. Unknown host: 404; a
revision without a ready pod: 503. A revision with several ready pods (``harness local up
--max-pods N``) has its requests balanced over them, least requests in flight first (ties
taken in turn), as Knative's activator and ingress spread a revision's traffic over its
pods; each pod's queue-proxy front keeps its own ``containerConcurrency`` queue. A
revision put behind the activator (``set_activator``, with ``--scale-to-zero``) has its
requests held while it has no ready pod: the first one asks for a pod, all are
forwarded once one is ready, or answered 503 after ``activation_timeout_s``.

With tag-header-based routing on (the emulator's default; Knative's is off), requests get
the headers Knative's ingress appends, from which queue-proxy derives ``route_tag``:
``Knative-Serving-Tag: <tag>`` on a tag host, ``Knative-Serving-Default-Route: true`` on a
main host, and a main-host request carrying a known ``Knative-Serving-Tag`` goes to that
tag's revision.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from harness.errors import BadInput
from harness.knative.urls import route_host, tag_host
from harness.local.metrics import DEFAULT_ROUTE_HEADER, TAG_HEADER

log = logging.getLogger(__name__)

CLUSTER_DOMAIN = "svc.cluster.local"
UPSTREAM_TIMEOUT_S = 300.0  # Knative's default revision timeout
ACTIVATION_TIMEOUT_S = 60.0  # how long a held request waits for a pod to become ready
STREAM_THRESHOLD = 1 << 20  # bodies up to 1 MiB are relayed whole, larger ones streamed
_HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "TE",
        "Trailer", "Trailers", "Transfer-Encoding", "Upgrade", "Content-Length",
    )
)  # fmt: skip
_NO_HEALTHY_UPSTREAM = b"no healthy upstream\n"
_UPSTREAM_RESET = b"upstream connect error or disconnect/reset before headers\n"
_ACTIVATION_TIMEOUT = b"activator request timeout: no ready pod\n"

Backend = tuple[str, str]  # (namespace, revision)


@dataclass(frozen=True)
class RouteBackend:
    """One revision's share of a host's traffic."""

    namespace: str
    revision: str
    percent: int


@dataclass(frozen=True)
class HostRoute:
    """Where one host's requests go.

    ``tag`` is None on a route's main host, else the tag the host belongs to.
    ``tag_routes`` (main hosts only) serves ``Knative-Serving-Tag`` header routing.
    """

    backends: tuple[RouteBackend, ...]
    tag: str | None = None
    tag_routes: Mapping[str, tuple[RouteBackend, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )


class TrafficEntry(Protocol):
    """A resolved ``status.traffic`` entry (e.g. ``harness.knative.traffic.TrafficTarget``)."""

    @property
    def revision_name(self) -> str | None: ...
    @property
    def percent(self) -> int | None: ...
    @property
    def tag(self) -> str | None: ...


def _merge(namespace: str, entries: Sequence[tuple[str, int]]) -> tuple[RouteBackend, ...]:
    shares: dict[str, int] = {}
    for revision, percent in entries:
        if percent > 0:
            shares[revision] = shares.get(revision, 0) + percent
    return tuple(RouteBackend(namespace, rev, pct) for rev, pct in shares.items())


def _hosts(external: str, domain: str) -> list[str]:
    local = external[: -len(domain) - 1]  # "hello.default", "v2-hello.default"
    return [external, local, f"{local}.svc", f"{local}.{CLUSTER_DOMAIN}"]


def route_hosts(
    namespace: str, route: str, traffic: Sequence[TrafficEntry], *, domain: str
) -> dict[str, HostRoute]:
    """Every host of one Route and where it sends requests (pure; Knative's traffic rules).

    ``traffic`` is the Route's ``status.traffic`` (``latestRevision`` already resolved to a
    revision name). Entries without a revision name are skipped, and so is a tag whose
    host would not be a DNS label (``{tag}-{route}`` over 63 characters: unroutable in
    Knative too). Hosts are lower case. ``BadInput`` if route, namespace or domain is
    not a valid name.
    """
    resolved = [
        (entry.revision_name, entry.percent or 0, entry.tag)
        for entry in traffic
        if entry.revision_name
    ]
    main = _merge(namespace, [(rev, pct) for rev, pct, _ in resolved])
    by_tag: dict[str, list[tuple[str, int]]] = {}
    for rev, pct, tag in resolved:
        if tag:
            by_tag.setdefault(tag, []).append((rev, pct))
    tagged: dict[str, tuple[RouteBackend, ...]] = {}
    tag_hosts: dict[str, str] = {}
    for tag, entries in by_tag.items():
        try:
            tag_hosts[tag] = tag_host(tag, route, namespace, domain)
        except BadInput as exc:
            log.warning("route %s/%s: tag %r gets no host: %s", namespace, route, tag, exc)
            continue
        split = _merge(namespace, entries)
        # Several entries of one tag: a gradual rollout of that tag's target, split alike.
        tagged[tag] = split if len(split) > 1 else _merge(namespace, [(entries[-1][0], 100)])
    routes: dict[str, HostRoute] = {}
    for host in _hosts(route_host(route, namespace, domain), domain):
        routes[host.lower()] = HostRoute(main, None, MappingProxyType(dict(tagged)))
    for tag, backends in tagged.items():
        for host in _hosts(tag_hosts[tag], domain):
            routes[host.lower()] = HostRoute(backends, tag)
    return routes


def _slots(backends: Sequence[RouteBackend]) -> tuple[Backend, ...]:
    return tuple((b.namespace, b.revision) for b in backends for _ in range(max(0, b.percent)))


@dataclass(frozen=True)
class _CompiledRoute:
    slots: tuple[Backend, ...]
    add_headers: tuple[tuple[str, str], ...]
    tag_slots: Mapping[str, tuple[Backend, ...]]


def _compile(route: HostRoute, tag_header_routing: bool) -> _CompiledRoute:
    if not tag_header_routing:
        return _CompiledRoute(_slots(route.backends), (), {})
    if route.tag is not None:
        return _CompiledRoute(_slots(route.backends), ((TAG_HEADER, route.tag),), {})
    return _CompiledRoute(
        _slots(route.backends),
        ((DEFAULT_ROUTE_HEADER, "true"),),
        {tag: _slots(b) for tag, b in route.tag_routes.items()},
    )


class _Pods:
    """The ready pods of one revision with several: least in flight wins, ties in turn.

    ``in_flight`` is the router's per-pod count (shared by every ``_Pods`` built since, so a
    change of the pod set keeps the counts of the pods that stay).
    """

    __slots__ = ("_turn", "bases", "in_flight")

    def __init__(self, bases: tuple[str, ...], in_flight: dict[str, int]) -> None:
        self.bases = bases
        self.in_flight = in_flight
        self._turn = 0

    def acquire(self) -> str:
        """The pod to send the next request to, counted in flight until `release`."""
        bases, counts = self.bases, self.in_flight
        n = len(bases)
        start = self._turn = (self._turn + 1) % n
        best = bases[start]
        fewest = counts.get(best, 0)
        for offset in range(1, n):
            base = bases[(start + offset) % n]
            count = counts.get(base, 0)
            if count < fewest:
                best, fewest = base, count
        counts[best] = fewest + 1
        return best

    def release(self, base: str) -> None:
        """A request sent to ``base`` has been answered (or failed)."""
        left = self.in_flight.get(base, 1) - 1
        if left > 0:
            self.in_flight[base] = left
        else:
            self.in_flight.pop(base, None)


class _Activator:
    """Knative's activator for one revision without a ready pod: holds its requests,
    asks for a pod once (``wake``), releases them when the revision gets endpoints;
    ``held`` counts the requests it holds (what it reports to the autoscaler)."""

    __slots__ = ("endpoints_set", "held", "wake", "woken")

    def __init__(self, wake: Callable[[], None]) -> None:
        self.wake = wake
        self.woken = False
        self.held = 0
        self.endpoints_set = asyncio.Event()


def _nothing() -> None:
    pass


def _host_name(host: str) -> str:
    if host.startswith("["):  # an IPv6 literal keeps its colons
        return host.partition("]")[0][1:].lower()
    return host.partition(":")[0].lower()


class Router:
    """The ingress server. ``set_routes`` and ``set_endpoints`` may be called at any time."""

    def __init__(self, *, tag_header_routing: bool = True) -> None:
        self.tag_header_routing = tag_header_routing
        self._table: Mapping[str, _CompiledRoute] = {}
        # One ready pod: its base URL (the common case, no bookkeeping); several: _Pods;
        # none, behind the activator: _Activator.
        self._endpoints: dict[Backend, str | _Pods | _Activator] = {}
        self._in_flight: dict[str, int] = {}
        self.activation_timeout_s = ACTIVATION_TIMEOUT_S
        self._session: aiohttp.ClientSession | None = None
        self._server: asyncio.AbstractServer | None = None
        self._web_server: web.Server | None = None
        self._random = random.random
        # Hosts served in-process (the broker ingress, docs/eventing.md), after the table.
        self._local_hosts: dict[
            str, Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
        ] = {}

    def set_local_host(
        self, host: str, handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
    ) -> None:
        """Serve requests for ``host`` (any port) with ``handler`` instead of proxying."""
        self._local_hosts[host.lower()] = handler

    def set_routes(self, routes: Mapping[str, HostRoute]) -> None:
        """Replace the whole table at once; the next request sees the new one."""
        self._table = MappingProxyType(
            {
                host.lower(): _compile(route, self.tag_header_routing)
                for host, route in routes.items()
            }
        )

    def set_endpoint(self, namespace: str, revision: str, address: str | None) -> None:
        """Mark a revision ready at one ``host:port``, or not ready (None): its share gets 503."""
        self.set_endpoints(namespace, revision, () if address is None else (address,))

    def set_endpoints(self, namespace: str, revision: str, addresses: Sequence[str]) -> None:
        """The ``host:port`` of every ready pod of a revision; none: its share gets 503."""
        key = (namespace, revision)
        previous = self._endpoints.get(key)
        if not addresses:
            self._endpoints.pop(key, None)
        elif len(addresses) == 1:
            self._endpoints[key] = f"http://{addresses[0]}"
        else:
            bases = tuple(f"http://{a}" for a in addresses)
            self._endpoints[key] = _Pods(bases, self._in_flight)
        if isinstance(previous, _Activator):
            previous.endpoints_set.set()  # held requests look again

    def set_activator(self, namespace: str, revision: str, wake: Callable[[], None]) -> None:
        """Put a revision without ready pods behind the activator: its requests wait (up to
        ``activation_timeout_s``) for `set_endpoints`; the first calls ``wake`` to ask for
        a pod. Kept as it is when the revision is already behind the activator."""
        key = (namespace, revision)
        if not isinstance(self._endpoints.get(key), _Activator):
            self._endpoints[key] = _Activator(wake)

    def activator_held(self, namespace: str, revision: str) -> int:
        """Requests the activator holds for a revision without a ready pod (0 when it is
        not behind the activator)."""
        found = self._endpoints.get((namespace, revision))
        return found.held if isinstance(found, _Activator) else 0

    def in_flight(self, address: str) -> int:
        """Requests the router has sent to pod ``host:port`` and not yet seen answered
        (counted only while its revision has several ready pods)."""
        return self._in_flight.get(f"http://{address}", 0)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on host:port (0: a free port); returns the port."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30.0),
            timeout=aiohttp.ClientTimeout(total=UPSTREAM_TIMEOUT_S, sock_connect=5.0),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        self._web_server = web.Server(self.handle, access_log=None)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._web_server, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening, end open connections and the upstream pool."""
        if self._server is not None:
            self._server.close()
        if self._web_server is not None:
            await self._web_server.shutdown(timeout=1.0)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
        if self._session is not None:
            await self._session.close()

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Route and proxy one request (the hot path: keep it lean)."""
        host = _host_name(request.headers.get("Host", ""))
        route = self._table.get(host)
        if route is None:
            local = self._local_hosts.get(host)
            if local is not None:
                return await local(request)
            return web.Response(status=404)
        headers = CIMultiDict(
            (k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP
        )
        slots = route.slots
        if route.tag_slots:
            client_tag = headers.get(TAG_HEADER)
            if client_tag is not None and client_tag in route.tag_slots:
                slots = route.tag_slots[client_tag]
            else:
                headers[DEFAULT_ROUTE_HEADER] = "true"
        else:
            for name, value in route.add_headers:
                headers[name] = value
        if not slots:
            return web.Response(status=503, body=_NO_HEALTHY_UPSTREAM)
        backend = slots[int(self._random() * len(slots))]
        endpoint = self._endpoints.get(backend)
        if endpoint is None:
            return web.Response(status=503, body=_NO_HEALTHY_UPSTREAM)
        if isinstance(endpoint, str):
            return await self._proxy(request, endpoint, headers)
        if isinstance(endpoint, _Activator):
            activated = await self._activated(backend, endpoint)
            if activated is None:
                return web.Response(status=503, body=_ACTIVATION_TIMEOUT)
            if isinstance(activated, str):
                return await self._proxy(request, activated, headers)
            endpoint = activated
        base = endpoint.acquire()
        try:
            return await self._proxy(request, base, headers)
        finally:
            endpoint.release(base)

    async def dispatch_target(
        self, host: str, headers: dict[str, str]
    ) -> tuple[str, Callable[[], None]] | int | None:
        """For an in-process client (the eventing dispatcher, docs/eventing.md): pick
        ``host``'s backend exactly as :meth:`handle` does (traffic split, tag headers added
        to ``headers``, pods, activator) without an HTTP hop through the ingress. Returns
        (pod base URL, release to call once answered), 503 when no pod is ready, or None
        for a host the route table does not have."""
        route = self._table.get(host.lower())
        if route is None:
            return None
        slots = route.slots
        if route.tag_slots:
            client_tag = headers.get(TAG_HEADER)
            if client_tag is not None and client_tag in route.tag_slots:
                slots = route.tag_slots[client_tag]
            else:
                headers[DEFAULT_ROUTE_HEADER] = "true"
        else:
            for name, value in route.add_headers:
                headers[name] = value
        if not slots:
            return 503
        backend = slots[int(self._random() * len(slots))]
        endpoint = self._endpoints.get(backend)
        if isinstance(endpoint, _Activator):
            endpoint = await self._activated(backend, endpoint)
        if endpoint is None or isinstance(endpoint, _Activator):
            return 503
        if isinstance(endpoint, str):
            return endpoint, _nothing
        pods = endpoint
        base = pods.acquire()
        return base, lambda: pods.release(base)

    async def _activated(self, backend: Backend, activator: _Activator) -> str | _Pods | None:
        """Wait until the revision has a ready pod: its endpoint, or None on timeout (or
        when the revision went away meanwhile)."""
        activator.held += 1
        try:
            if not activator.woken:
                activator.woken = True
                activator.wake()
            await asyncio.wait_for(activator.endpoints_set.wait(), self.activation_timeout_s)
        except TimeoutError:
            return None
        finally:
            activator.held -= 1
        found = self._endpoints.get(backend)
        return None if found is None or isinstance(found, _Activator) else found

    async def _proxy(
        self, request: web.BaseRequest, base: str, headers: CIMultiDict[str]
    ) -> web.StreamResponse:
        assert self._session is not None
        body: bytes | AsyncIterator[bytes] | None = None
        if request.body_exists:
            length = request.content_length
            if length is not None and length <= STREAM_THRESHOLD:
                body = await request.read()
            else:  # large or chunked: stream it on, chunked
                body = request.content.iter_chunked(1 << 16)
        try:
            async with self._session.request(
                request.method,
                URL(base + request.raw_path, encoded=True),
                headers=headers,
                data=body,
                allow_redirects=False,
            ) as upstream:
                out_headers = CIMultiDict(
                    (k, v) for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP
                )
                length = upstream.content_length
                if length is not None and length <= STREAM_THRESHOLD:
                    return web.Response(
                        status=upstream.status, body=await upstream.read(), headers=out_headers
                    )
                return await _stream_back(request, upstream, out_headers)
        except (aiohttp.ClientError, OSError, TimeoutError):
            return web.Response(status=503, body=_UPSTREAM_RESET)


async def _stream_back(
    request: web.BaseRequest, upstream: aiohttp.ClientResponse, headers: CIMultiDict[str]
) -> web.StreamResponse:
    response = web.StreamResponse(status=upstream.status, headers=headers)
    await response.prepare(request)
    try:
        async for chunk in upstream.content.iter_chunked(1 << 16):
            await response.write(chunk)
    except (aiohttp.ClientError, OSError, TimeoutError):
        # The status line is gone already: cut the connection so the client cannot take
        # a truncated body for a whole one.
        if request.transport is not None:
            request.transport.abort()
        return response
    await response.write_eof()
    return response
