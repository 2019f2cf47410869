"""One revision's process: a queue-proxy-like front and the sample app, in one process.

Knative runs a queue-proxy sidecar beside every user container: it enforces the hard
``containerConcurrency`` limit (at most CC requests in the app, a queue of 10 x CC more,
then 503), answers the readiness probes and exposes the request metrics. Here both live
in one asyncio process, so a request costs one hop instead of two; the app is the very
:class:`~harness.local.app.SampleApp` that ``python -m harness.local.app`` serves.

Started by :mod:`harness.local.supervisor` under ``python -I`` with an allow-listed
environment: ``K_REVISION``, ``K_SERVICE``, ``K_CONFIGURATION`` and the queue-proxy
settings below (`HARNESS_KEYS`). The Service's own env (``TARGET``, ``SIM_*``, whatever
else a manifest holds) comes as one JSON object on stdin and goes only into the app's
knobs: the interpreter never sees it. It binds the serving and metrics ports
on free ports, writes one JSON line ``{"port": P, "metrics_port": M}`` to stdout (the
handshake), then sends stdout to stderr, which the supervisor keeps as the revision's log.

The metrics port also answers ``GET /stats`` for the emulator's autoscaler: the requests in
flight and their time integral (:class:`ConcurrencyStats`), the stat Knative's queue-proxy
reports to its autoscaler every second (average concurrency over the period).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO

from aiohttp import web

from harness.events.receiver import REPORT_PATH
from harness.local.app import REVISION_HEADER, AppKnobs, KnobError, SampleApp
from harness.local.metrics import (
    DEFAULT_ROUTE_HEADER,
    SCHEMAS,
    TAG_HEADER,
    MetricsSchema,
    RequestMetrics,
    RevisionIdentity,
    route_tag,
)

# Env of the queue-proxy part (Knative's queue-proxy reads SERVING_* and CONTAINER_CONCURRENCY).
ENV_NAMESPACE = "SERVING_NAMESPACE"
ENV_POD = "SERVING_POD"
ENV_CONTAINER_CONCURRENCY = "CONTAINER_CONCURRENCY"
ENV_METRICS_SCHEMA = "HARNESS_METRICS_SCHEMA"
ENV_BIND_HOST = "HARNESS_BIND_HOST"
# Everything the supervisor sets; the Service's env cannot override these.
HARNESS_KEYS = (
    "K_REVISION",
    "K_SERVICE",
    "K_CONFIGURATION",
    "PORT",
    ENV_NAMESPACE,
    ENV_POD,
    ENV_CONTAINER_CONCURRENCY,
    ENV_METRICS_SCHEMA,
    ENV_BIND_HOST,
)
MAX_USER_ENV = 1024 * 1024

PROBE_HEADER = "K-Network-Probe"
PROBE_VALUE = "queue"
QUEUE_DEPTH_PER_SLOT = 10  # queue-proxy's breaker queue: 10 x containerConcurrency
STATS_PATH = "/stats"
_QUEUE_FULL_BODY = b"pending request queue full\n"


@dataclass(frozen=True)
class QueueSettings:
    """What the queue-proxy part needs besides the app's knobs."""

    identity: RevisionIdentity
    container_concurrency: int
    schema: MetricsSchema
    host: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> QueueSettings:
        """Read the settings the supervisor passes; ``KnobError`` if one is invalid."""
        cc_text = env.get(ENV_CONTAINER_CONCURRENCY, "0").strip() or "0"
        if not cc_text.isdigit() or int(cc_text) > 1000:
            raise KnobError(f"invalid {ENV_CONTAINER_CONCURRENCY}={cc_text!r}: want 0..1000")
        schema_text = env.get(ENV_METRICS_SCHEMA, "legacy")
        if schema_text not in SCHEMAS:
            raise KnobError(f"invalid {ENV_METRICS_SCHEMA}={schema_text!r}: want legacy or otel")
        schema: MetricsSchema = "otel" if schema_text == "otel" else "legacy"
        revision = env.get("K_REVISION", "")
        identity = RevisionIdentity(
            namespace=env.get(ENV_NAMESPACE, "default"),
            service=env.get("K_SERVICE", ""),
            configuration=env.get("K_CONFIGURATION", ""),
            revision=revision,
            pod=env.get(ENV_POD, f"{revision}-deployment"),
        )
        return cls(identity, int(cc_text), schema, env.get(ENV_BIND_HOST, "127.0.0.1"))


class Breaker:
    """queue-proxy's breaker: ``capacity`` requests run at once, ``10 x capacity`` wait."""

    def __init__(self, capacity: int) -> None:
        self.slots = asyncio.Semaphore(capacity)
        self.limit = capacity * (1 + QUEUE_DEPTH_PER_SLOT)
        self.in_flight = 0  # running + waiting: what Knative reports as queue depth


class ConcurrencyStats:
    """Requests in flight and the integral of that count over time, for the autoscaler.

    Like queue-proxy's stats reporter, a request counts from when the front takes it
    (queued or running) until it is answered; probes do not count. The reader turns two
    snapshots into the time-weighted average concurrency between them, so sampling
    costs the request path two clock reads and a few additions, never a timer.
    """

    __slots__ = ("_clock", "_last", "concurrency_seconds", "in_flight", "requests")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last = clock()
        self.in_flight = 0
        self.requests = 0
        self.concurrency_seconds = 0.0

    def _advance(self) -> None:
        now = self._clock()
        self.concurrency_seconds += self.in_flight * (now - self._last)
        self._last = now

    def enter(self) -> None:
        """A request arrived."""
        self._advance()
        self.in_flight += 1
        self.requests += 1

    def leave(self) -> None:
        """A request was answered."""
        self._advance()
        self.in_flight -= 1

    def snapshot(self) -> dict[str, float]:
        """``{"t", "in_flight", "requests", "concurrency_seconds"}``, all cumulative but the
        count in flight; ``t`` is this process's monotonic clock in seconds."""
        self._advance()
        return {
            "t": self._last,
            "in_flight": self.in_flight,
            "requests": self.requests,
            "concurrency_seconds": self.concurrency_seconds,
        }


class QueueProxyFront:
    """The request path: probe, route tag, breaker, app, metrics."""

    def __init__(self, app: SampleApp, settings: QueueSettings, ready: asyncio.Event) -> None:
        self.app = app
        self.ready = ready
        self.schema = settings.schema
        cc = settings.container_concurrency
        breaker = Breaker(cc) if cc else None
        self.breaker = breaker
        self.metrics = RequestMetrics(
            settings.identity,
            settings.schema,
            (lambda: breaker.in_flight) if breaker is not None else None,
        )
        self.headers = {REVISION_HEADER: app.knobs.revision, "Content-Type": "text/plain"}
        self.stats = ConcurrencyStats()
        self.report_reads = 0

    async def handle(self, request: web.BaseRequest) -> web.Response:
        """Serve one request as queue-proxy and the app together would."""
        headers = request.headers
        if headers.get(PROBE_HEADER) == PROBE_VALUE:
            if self.ready.is_set():
                return web.Response(body=b"queue", headers=self.headers)
            return web.Response(status=503, body=b"not ready\n", headers=self.headers)
        if self.app.events is not None and request.path == REPORT_PATH:
            # The harness reading a receiver's records is not traffic of the revision: kept
            # out of the request metrics (the server-side judge sees deliveries only), but
            # for the first read, which makes the revision's series exist before its first
            # event (an event canary's candidate gets none until its first step).
            if self.report_reads:
                status, body = await self.app.respond(request)
                return web.Response(status=status, body=body, headers=self.headers)
            self.report_reads += 1
        start = time.perf_counter()
        tag = route_tag(headers.get(TAG_HEADER), headers.get(DEFAULT_ROUTE_HEADER), self.schema)
        self.stats.enter()
        try:
            status, body = await self._serve(request)
        finally:
            self.stats.leave()
        self.metrics.record_request(request.method, status, time.perf_counter() - start, tag)
        return web.Response(status=status, body=body, headers=self.headers)

    async def _serve(self, request: web.BaseRequest) -> tuple[int, bytes]:
        if not self.ready.is_set():
            await self.ready.wait()
        breaker = self.breaker
        if breaker is None:
            return await self._call_app(request)
        if breaker.in_flight >= breaker.limit:
            return 503, _QUEUE_FULL_BODY
        breaker.in_flight += 1
        try:
            async with breaker.slots:
                return await self._call_app(request)
        finally:
            breaker.in_flight -= 1

    async def _call_app(self, request: web.BaseRequest) -> tuple[int, bytes]:
        start = time.perf_counter()
        status, body = await self.app.respond(request)
        self.metrics.record_app(status, time.perf_counter() - start)
        return status, body

    async def serve_metrics(self, request: web.BaseRequest) -> web.Response:
        """``GET /metrics``: the exposition; ``GET /stats``: the autoscaler's JSON stat
        (:meth:`ConcurrencyStats.snapshot`); anything else 404."""
        if request.path == STATS_PATH:
            return web.json_response(self.stats.snapshot())
        if request.path != "/metrics":
            return web.Response(status=404, text="404: Not Found\n")
        return web.Response(text=self.metrics.render(), content_type="text/plain", charset="utf-8")


async def run(env: Mapping[str, str]) -> None:
    """Serve until SIGTERM or SIGINT; the handshake line goes to stdout once both ports listen."""
    knobs = AppKnobs.from_env(env)
    settings = QueueSettings.from_env(env)
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    front = QueueProxyFront(SampleApp(knobs), settings, ready)
    serving = await loop.create_server(web.Server(front.handle, access_log=None), settings.host, 0)
    metrics = await loop.create_server(
        web.Server(front.serve_metrics, access_log=None), settings.host, 0
    )
    handshake = {
        "port": serving.sockets[0].getsockname()[1],
        "metrics_port": metrics.sockets[0].getsockname()[1],
    }
    sys.stdout.write(json.dumps(handshake) + "\n")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if knobs.cold_start_ms > 0:
        loop.call_later(knobs.cold_start_ms / 1000.0, ready.set)
    else:
        ready.set()
    await stop.wait()
    serving.close()
    metrics.close()


def read_user_env(stream: IO[bytes]) -> dict[str, str]:
    """The Service's env, a JSON object of strings on `stream` (at most `MAX_USER_ENV`
    bytes; empty input is no env); KnobError otherwise."""
    raw = stream.read(MAX_USER_ENV + 1)
    if len(raw) > MAX_USER_ENV:
        raise KnobError(f"the revision's env is larger than {MAX_USER_ENV} bytes")
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise KnobError(f"the revision's env is not JSON: {exc}") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise KnobError("the revision's env must be a JSON object of strings")
    return data


def settings_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The harness's settings in `environ` (`HARNESS_KEYS`), nothing else."""
    return {key: environ[key] for key in HARNESS_KEYS if key in environ}


def main() -> None:
    """Entry point of the revision process: the user's env from stdin, the harness's
    settings from the environment (they win); bad settings exit 2 with one line."""
    try:
        env = {**read_user_env(sys.stdin.buffer), **settings_env(os.environ)}
        asyncio.run(run(env))
    except KnobError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
