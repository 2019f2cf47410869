"""The emulator's Eventing data plane: the broker ingress, the trigger filter and the
dispatcher (retries, backoff, dead letter sink, replies, the loss knob), and the status
of Brokers and Triggers.

Like Knative's ``MTChannelBasedBroker`` with an in-memory channel (knative/eventing
8cf4c4b6 ``pkg/broker/ingress/ingress_handler.go``, ``pkg/broker/filter/filter_handler.go``),
folded into the emulator's one process: the ingress answers 202 once an event is queued
for the Triggers it matches; each match is then delivered on its own task. Subscribers
that are cluster-local hosts (a Knative Service, a Broker) are reached through the
emulator's own ingress, so a Service's traffic split applies to events as to requests.
docs/eventing.md is the user-facing description.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from aiohttp import web

from harness.local.eventing.admission import drop_fraction
from harness.local.eventing.cloudevent import (
    ARRIVAL_TIME,
    STRUCTURED,
    CloudEvent,
    InvalidEvent,
    from_http,
    is_event_response,
    rfc3339_nano,
    to_binary,
)
from harness.local.eventing.delivery import NO_ANSWER, DeliveryPolicy, policy_of, should_retry
from harness.local.eventing.filters import Filter, Result, trigger_filter, type_filter
from harness.local.eventing.http1 import Client, HTTPError
from harness.local.eventing.metrics import EventingMetrics
from harness.local.eventing.status import broker_status, resolve, trigger_status
from harness.local.objects import merge_conditions
from harness.local.objectstore import JSON, ObjectStore
from harness.local.router import Router

log = logging.getLogger(__name__)

INGRESS_HOST = "broker-ingress.knative-eventing.svc.cluster.local"
CLUSTER_SUFFIX = ".svc.cluster.local"
ATTEMPT_HEADER = "Knative-Harness-Delivery-Attempt"
NAMESPACE_HEADER = "Kn-Namespace"
ATTEMPT_TIMEOUT_S = 30.0
MAX_IN_FLIGHT_PER_TRIGGER = 100
RECONCILE_EVERY_S = 1.0
TTL = "knativebrokerttl"  # pkg/broker/ttl.go TTLAttribute
MAX_TTL = 255  # the broker ingress's MAX_TTL default
ERROR_DATA_MAX = 1024  # knative_error.go KnativeErrorDataExtensionMaxLength
_ALLOW = {"Allow": "POST, OPTIONS"}
_PATH_SAFE = "/%?=&;:@!$'()*+,~-._"


@dataclass(frozen=True)
class CompiledTrigger:
    """What the dispatcher needs of one Trigger, built once per resourceVersion."""

    namespace: str
    name: str
    broker: str
    matches: Filter
    filter_type: str
    subscriber: str | None
    policy: DeliveryPolicy
    dead_letter: str | None
    drop: float
    semaphore: asyncio.Semaphore


class Eventing:
    """Brokers and Triggers of one emulator, on its asyncio loop."""

    def __init__(
        self,
        store: ObjectStore,
        metrics: EventingMetrics,
        *,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.ingress_base = ""  # http://127.0.0.1:PORT, set once the ingress listens
        self._random = rng
        self._session: aiohttp.ClientSession | None = None  # for https subscribers
        self._client: Client | None = None
        self._index_version = -1
        self._index: dict[tuple[str, str], list[CompiledTrigger]] = {}
        self._compiled: dict[tuple[str, str], tuple[str, CompiledTrigger]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._reconciler: asyncio.Task[None] | None = None
        self._router: Router | None = None

    # ----- lifecycle -----

    async def start(self, ingress_base: str, router: Router | None = None) -> None:
        """Start delivering through the emulator's ingress at ``ingress_base``; given the
        ingress's ``router``, cluster-local hosts in its table are routed in-process (the
        same pick of revision and pod, without the HTTP hop through the ingress)."""
        self.ingress_base = ingress_base.rstrip("/")
        self._router = router
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30.0),
            timeout=aiohttp.ClientTimeout(total=ATTEMPT_TIMEOUT_S, sock_connect=5.0),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        self._client = Client(timeout=ATTEMPT_TIMEOUT_S, connect_timeout=5.0)
        self._reconciler = asyncio.create_task(self._reconcile_loop())

    async def close(self) -> None:
        """Stop reconciling and delivering (events in flight are lost, as documented)."""
        if self._reconciler is not None:
            self._reconciler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconciler
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        if self._client is not None:
            self._client.close()

    # ----- status -----

    def reconcile_all(self) -> None:
        """Bring every Broker's and Trigger's status up to date (writes only changes)."""
        for resource in ("brokers", "triggers"):
            for obj in list(self.store.iter(resource)):
                meta = obj["metadata"]
                self.reconcile(resource, meta["namespace"], meta["name"])

    def reconcile(self, resource: str, namespace: str, name: str) -> None:
        """Recompute one object's status and store it if it changed."""
        obj = self.store.peek(resource, namespace, name)
        if obj is None:
            return
        if resource == "brokers":
            status, conditions = broker_status(obj)
        else:
            status, conditions = trigger_status(self.store, obj)
        old = obj.get("status") or {}
        status["conditions"] = merge_conditions(old.get("conditions"), conditions)
        status["observedGeneration"] = obj["metadata"].get("generation", 1)
        if status != old:
            updated = self.store.get(resource, namespace, name)
            assert updated is not None
            updated["status"] = status
            self.store.put(resource, updated)

    async def _reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(RECONCILE_EVERY_S)
            try:
                self.reconcile_all()
            except Exception:  # keep the emulator serving; the next round retries
                log.exception("eventing reconcile failed")

    # ----- the trigger index -----

    def _triggers_of(self, namespace: str, broker: str) -> list[CompiledTrigger]:
        if self._index_version != self.store.resource_version:
            self._rebuild_index()
        return self._index.get((namespace, broker), [])

    def _rebuild_index(self) -> None:
        index: dict[tuple[str, str], list[CompiledTrigger]] = {}
        compiled: dict[tuple[str, str], tuple[str, CompiledTrigger]] = {}
        for obj in self.store.iter("triggers"):
            meta = obj["metadata"]
            key = (meta["namespace"], meta["name"])
            broker = self.store.peek("brokers", meta["namespace"], str(obj["spec"].get("broker")))
            version = (
                meta.get("resourceVersion", "")
                + "/"
                + (broker["metadata"].get("resourceVersion", "") if broker else "")
            )
            previous = self._compiled.get(key)
            trigger = (
                previous[1]
                if previous is not None and previous[0] == version
                else self._compile(obj, previous[1].semaphore if previous else None)
            )
            compiled[key] = (version, trigger)
            index.setdefault((trigger.namespace, trigger.broker), []).append(trigger)
        self._compiled = compiled
        self._index = index
        self._index_version = self.store.resource_version

    def _compile(self, obj: JSON, semaphore: asyncio.Semaphore | None) -> CompiledTrigger:
        meta, spec = obj["metadata"], obj.get("spec") or {}
        namespace = meta["namespace"]
        broker = self.store.peek("brokers", namespace, str(spec.get("broker", ""))) or {}
        policy = policy_of(spec, broker.get("spec") or {})
        return CompiledTrigger(
            namespace=namespace,
            name=meta["name"],
            broker=str(spec.get("broker", "")),
            matches=trigger_filter(spec),
            filter_type=type_filter(spec),
            subscriber=resolve(self.store, namespace, spec.get("subscriber")),
            policy=policy,
            dead_letter=resolve(self.store, namespace, policy.dead_letter_sink),
            drop=drop_fraction(obj),
            semaphore=semaphore or asyncio.Semaphore(MAX_IN_FLIGHT_PER_TRIGGER),
        )

    # ----- the broker ingress -----

    async def handle_ingress(self, request: web.BaseRequest) -> web.StreamResponse:
        """The broker ingress (host ``broker-ingress.knative-eventing.svc.cluster.local``)."""
        if request.method == "OPTIONS":
            return web.Response(
                status=200,
                headers={**_ALLOW, "WebHook-Allowed-Origin": "*", "WebHook-Allowed-Rate": "*"},
            )
        if request.method != "POST":
            return web.Response(status=405, headers=_ALLOW)
        path = request.raw_path.split("?", 1)[0]
        if path == "/":
            return web.Response(status=404, headers=_ALLOW)
        parts = path.rstrip("/").split("/")
        if len(parts) != 3 or not parts[1] or not parts[2]:
            return web.Response(status=400, headers=_ALLOW)
        namespace, broker = parts[1], parts[2]
        body = await request.read()
        try:
            event = from_http(request.headers, body)
        except InvalidEvent as exc:
            return web.Response(status=400, text=f"{exc}\n", headers=_ALLOW)
        if self.store.peek("brokers", namespace, broker) is None:
            return web.Response(status=404, headers=_ALLOW)
        if not _default_ttl(event):
            return web.Response(status=400, text="TTL exhausted\n", headers=_ALLOW)
        started = time.perf_counter()
        if self.ingest(namespace, broker, event):
            # Let the deliveries just queued write their requests before the 202 goes out
            # (one turn of the loop): under a backlog a sender then waits for dispatch as
            # a plain request waits for its proxy, instead of the deliveries queueing
            # behind new events.
            await asyncio.sleep(0)
        self.metrics.ingress(namespace, broker, event.type, 202, time.perf_counter() - started)
        return web.Response(status=202, headers=_ALLOW)

    def ingest(self, namespace: str, broker: str, event: CloudEvent) -> int:
        """Stamp the arrival time and queue the event for every Trigger it matches;
        returns how many matched."""
        event.attributes[ARRIVAL_TIME] = rfc3339_nano()
        arrived = time.perf_counter()
        matched = 0
        for trigger in self._triggers_of(namespace, broker):
            if trigger.subscriber is None or trigger.matches(event) is Result.FAIL:
                continue
            matched += 1
            self.metrics.count("matched", namespace, broker, trigger.name)
            if trigger.drop > 0.0 and self._random() < trigger.drop:
                self.metrics.count("dropped", namespace, broker, trigger.name)
                continue
            task = asyncio.get_running_loop().create_task(self._deliver(trigger, event, arrived))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return matched

    # ----- the dispatcher -----

    async def _deliver(self, trigger: CompiledTrigger, event: CloudEvent, arrived: float) -> None:
        async with trigger.semaphore:
            try:
                await self._deliver_once(trigger, event, arrived)
            except Exception:
                log.exception("delivery to trigger %s/%s failed", trigger.namespace, trigger.name)

    async def _deliver_once(
        self, trigger: CompiledTrigger, event: CloudEvent, arrived: float
    ) -> None:
        assert trigger.subscriber is not None
        ns, broker, name = trigger.namespace, trigger.broker, trigger.name
        self.metrics.process(
            ns, broker, name, trigger.filter_type, event.type, time.perf_counter() - arrived
        )
        policy = trigger.policy
        head = _head(event, policy.structured, prefer_reply=True)
        code: int | None = None
        body = b""
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            code, headers, body = await self._send(trigger.subscriber, ns, attempt, head)
            self.metrics.dispatch(
                ns,
                broker,
                name,
                trigger.filter_type,
                "filter",
                event.type,
                NO_ANSWER if code is None else code,
                time.perf_counter() - started,
            )
            if code is not None and 200 <= code < 300:
                self.metrics.count("delivered", ns, broker, name)
                self._reply(trigger, _ttl_of(event), headers, body)
                return
            if not should_retry(code) or attempt > policy.retry:
                break
            await asyncio.sleep(policy.backoff(attempt - 1))
        await self._dead_letter(trigger, event, code, body)

    def _reply(
        self, trigger: CompiledTrigger, ttl: int, headers: Mapping[str, str], body: bytes
    ) -> None:
        if not is_event_response(headers):
            return
        try:
            reply = from_http(headers, body)
        except InvalidEvent as exc:
            log.info("trigger %s/%s: invalid reply event: %s", trigger.namespace, trigger.name, exc)
            return
        ns, broker = trigger.namespace, trigger.broker
        if self.store.peek("brokers", ns, broker) is None:
            return
        # The filter reattaches the event's TTL, the ingress decrements it: a reply loop
        # ends after MAX_TTL hops (Knative's pkg/broker/ttl.go).
        reply.attributes[TTL] = str(ttl)
        if not _default_ttl(reply):
            log.info("trigger %s/%s: reply dropped, TTL exhausted", ns, trigger.name)
            return
        self.metrics.count("replies", ns, broker, trigger.name)
        self.metrics.dispatch(
            ns, broker, trigger.name, trigger.filter_type, "reply_forward", reply.type, 202, 0.0
        )
        self.ingest(ns, broker, reply)

    async def _dead_letter(
        self, trigger: CompiledTrigger, event: CloudEvent, code: int | None, body: bytes
    ) -> None:
        ns, broker, name = trigger.namespace, trigger.broker, trigger.name
        if trigger.dead_letter is None:
            self.metrics.count("undeliverable", ns, broker, name)
            return
        failed = event.copy()
        failed.attributes["knativeerrordest"] = str(trigger.subscriber)
        failed.attributes["knativeerrorcode"] = str(-1 if code is None else code)
        if body:
            failed.attributes["knativeerrordata"] = base64.b64encode(body[:ERROR_DATA_MAX]).decode()
        started = time.perf_counter()
        head = _head(failed, False, prefer_reply=False)
        sink_code, _, _ = await self._send(trigger.dead_letter, ns, 1, head)
        self.metrics.dispatch(
            ns,
            broker,
            name,
            trigger.filter_type,
            "dls_forward",
            event.type,
            NO_ANSWER if sink_code is None else sink_code,
            time.perf_counter() - started,
        )
        if sink_code is not None and 200 <= sink_code < 300:
            self.metrics.count("dead_lettered", ns, broker, name)
        else:
            self.metrics.count("undeliverable", ns, broker, name)

    async def _send(
        self, url: str, namespace: str, attempt: int, head: _Head
    ) -> tuple[int | None, Mapping[str, str], bytes]:
        """POST the event (``head``: its headers and body, built once per delivery);
        (status or None for no answer, headers, body)."""
        target = _target(url)
        extra = f"{ATTEMPT_HEADER}: {attempt}\r\n{NAMESPACE_HEADER}: {namespace}\r\n"
        if head.prefer_reply:
            # event_dispatcher.go (knative/eventing 8cf4c4b6) sets it on every delivery.
            extra += "Prefer: reply\r\n"
        address = target.address
        release: Callable[[], None] | None = None
        if target.cluster_local and self.ingress_base:
            # Cluster-local names are served by the emulator's own ingress.
            route_headers: dict[str, str] = {}
            picked = (
                await self._router.dispatch_target(target.host, route_headers)
                if self._router is not None
                else None
            )
            if isinstance(picked, int):
                return picked, {}, b""
            if picked is None:
                address = _address(self.ingress_base)
            else:
                address, release = _address(picked[0]), picked[1]
            for name, value in route_headers.items():
                extra += f"{name}: {value}\r\n"
        if address is None:  # https or an odd URL: the general client
            return await self._send_general(url, head, extra)
        data = (
            f"POST {target.path} HTTP/1.1\r\nHost: {target.netloc}\r\n"
            f"Content-Length: {len(head.body)}\r\n{head.headers}{extra}\r\n"
        ).encode("latin-1", "replace") + head.body
        try:
            assert self._client is not None
            answer = await self._client.send(address[0], address[1], data)
        except HTTPError:
            return None, {}, b""
        finally:
            if release is not None:
                release()
        return answer.status, answer.headers, answer.body

    async def _send_general(
        self, url: str, head: _Head, extra: str
    ) -> tuple[int | None, Mapping[str, str], bytes]:
        assert self._session is not None
        headers = dict(line.split(": ", 1) for line in (head.headers + extra).split("\r\n") if line)
        try:
            async with self._session.post(url, data=head.body, headers=headers) as response:
                answer = await response.read()
                return response.status, response.headers, answer
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
            return None, {}, b""


@dataclass(frozen=True)
class _Head:
    """An event's headers (CRLF-terminated lines) and body, as one delivery sends them."""

    headers: str
    body: bytes
    prefer_reply: bool


def _head(event: CloudEvent, structured: bool, *, prefer_reply: bool) -> _Head:
    if structured:
        return _Head(f"Content-Type: {STRUCTURED}\r\n", _structured_body(event), prefer_reply)
    lines = "".join(
        f"{name}: {_header_value(value)}\r\n" for name, value in to_binary(event, skip=TTL).items()
    )
    return _Head(lines, event.data, prefer_reply)


def _header_value(value: str) -> str:
    # ce-* values are percent-encoded already; a structured event's datacontenttype is
    # not, and must not end the header line.
    if "\r" in value or "\n" in value:
        return value.replace("\r", " ").replace("\n", " ")
    return value


@dataclass(frozen=True)
class _Target:
    host: str  # lower case, no port
    netloc: str  # the Host header
    path: str  # path and query, as sent
    cluster_local: bool
    address: tuple[str, int] | None  # where to connect for a direct http URL, else None


@functools.lru_cache(maxsize=1024)
def _target(url: str) -> _Target:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        path += "?" + quote(parts.query, safe=_PATH_SAFE)
    address: tuple[str, int] | None = None
    try:
        if parts.scheme == "http" and host:
            address = (host, parts.port or 80)
    except ValueError:  # a port out of range
        address = None
    return _Target(host, parts.netloc, path, host.endswith(CLUSTER_SUFFIX), address)


@functools.lru_cache(maxsize=1024)
def _address(base: str) -> tuple[str, int] | None:
    """host and port of a base URL such as ``http://127.0.0.1:8080``."""
    return _target(base).address


def _ttl_of(event: CloudEvent) -> int:
    try:
        return int(event.attributes.get(TTL, ""))
    except ValueError:
        return MAX_TTL


def _default_ttl(event: CloudEvent) -> bool:
    """Knative's TTLDefaulter at the ingress: MAX_TTL when absent (or not a number), else
    one less (not below 0); False when the result is not positive (the ingress's 400)."""
    raw = event.attributes.get(TTL)
    ttl = MAX_TTL if raw is None else max(_ttl_of(event) - 1, 0)
    event.attributes[TTL] = str(ttl)
    return ttl > 0


def _structured_body(event: CloudEvent) -> bytes:
    document: dict[str, Any] = {k: v for k, v in event.attributes.items() if k != TTL}
    media = document.get("datacontenttype", "")
    if event.data:
        if "json" in media:
            try:
                document["data"] = json.loads(event.data)
            except ValueError:
                document["data_base64"] = base64.b64encode(event.data).decode()
        else:
            try:
                document["data"] = event.data.decode()
            except UnicodeDecodeError:
                document["data_base64"] = base64.b64encode(event.data).decode()
    return json.dumps(document).encode()
