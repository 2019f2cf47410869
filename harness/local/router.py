"""The emulator's ingress: one HTTP port, routing by ``Host`` like Knative's networking layer.

:func:`route_hosts` turns a Route's ``status.traffic`` into per-host routes the way
``pkg/reconciler/route/traffic`` and ``resources/ingress.go`` do: the main host splits by
every entry's percent (entries of one revision merged, 0% entries dropped), each tag host
sends everything to its revision (or, while a tagged target rolls out gradually and so
has one entry per revision, splits by those entries' percents), and the cluster-local
names route like the external ones. :class:`Router` serves such a table: a weighted
random pick per request (unbiased: a uniform draw over a table of ``sum(percent)``
slots), then a proxy through a pooled, keep-alive aiohttp session. Unknown host: 404; a
revision that is not ready: 503.

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
from collections.abc import AsyncIterator, Mapping, Sequence
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


def _host_name(host: str) -> str:
    if host.startswith("["):  # an IPv6 literal keeps its colons
        return host.partition("]")[0][1:].lower()
    return host.partition(":")[0].lower()


class Router:
    """The ingress server. ``set_routes`` and ``set_endpoint`` may be called at any time."""

    def __init__(self, *, tag_header_routing: bool = True) -> None:
        self.tag_header_routing = tag_header_routing
        self._table: Mapping[str, _CompiledRoute] = {}
        self._endpoints: dict[Backend, str] = {}
        self._session: aiohttp.ClientSession | None = None
        self._server: asyncio.AbstractServer | None = None
        self._web_server: web.Server | None = None
        self._random = random.random

    def set_routes(self, routes: Mapping[str, HostRoute]) -> None:
        """Replace the whole table at once; the next request sees the new one."""
        self._table = MappingProxyType(
            {
                host.lower(): _compile(route, self.tag_header_routing)
                for host, route in routes.items()
            }
        )

    def set_endpoint(self, namespace: str, revision: str, address: str | None) -> None:
        """Mark a revision ready at ``host:port``, or not ready (None): its share gets 503."""
        if address is None:
            self._endpoints.pop((namespace, revision), None)
        else:
            self._endpoints[(namespace, revision)] = f"http://{address}"

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
        route = self._table.get(_host_name(request.headers.get("Host", "")))
        if route is None:
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
        base = self._endpoints.get(slots[int(self._random() * len(slots))])
        if base is None:
            return web.Response(status=503, body=_NO_HEALTHY_UPSTREAM)
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
