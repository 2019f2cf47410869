"""The sample app: Knative's helloworld plus fault knobs read from the container's env.

``GET`` on any path answers ``Hello {TARGET}!`` with the header ``K-Revision: $K_REVISION``
(Knative sets ``K_REVISION`` in every container, so the same app on a real cluster
attributes its responses too). The ``SIM_*`` knobs let a manifest describe a bad revision:
latency is a lognormal draw slept with ``asyncio.sleep`` (concurrent requests overlap, like
an I/O-bound service), a share of requests fail with 500 and a share are made slower.
Time-correlated faults act on whole seconds of one pod (one app process): a stall delays
every request of that second, an error burst fails a share of them; each pod also has
its own speed factor (node heterogeneity).

Receiver mode (``EVENTS_RECEIVER=true``, for `harness events` and event canaries): a
``POST`` carrying a CloudEvent is a delivery, answered as the knobs say and recorded with
the revision, the delivery attempt and its times; ``GET /harness/events?run=RUN`` serves
the records (`harness.events.receiver`). ``EVENTS_REPORT_TO=URL`` also posts them to a
dedicated receiver Service.

Run alone with ``python -m harness.local.app --port P`` (or env ``PORT``, as Knative's
containers read it). Inside the emulator the revision process serves the same
:class:`SampleApp` in-process behind its queue-proxy front (``harness.local.revision``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from aiohttp import web

from harness.events.receiver import REPORT_PATH, EventLog, forward_forever, now_ns

REVISION_HEADER = "K-Revision"
_ERROR_BODY = b"Internal Server Error (SIM_ERROR_RATE)\n"
_TRUE = ("true", "1", "yes")
_FALSE = ("", "false", "0", "no")


class Incoming(Protocol):
    """What the app reads of a request (an aiohttp request has it)."""

    @property
    def method(self) -> str: ...

    @property
    def path(self) -> str: ...

    @property
    def query(self) -> Mapping[str, str]: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    async def read(self) -> bytes: ...


class KnobError(ValueError):
    """A ``SIM_*`` (or ``PORT``) value that cannot be used; the message is one line."""


@dataclass(frozen=True)
class AppKnobs:
    """The app's settings, as read from its environment."""

    target: str = "World"
    revision: str = ""
    latency_ms: float = 5.0
    latency_sigma: float = 0.3
    error_rate: float = 0.0
    tail_rate: float = 0.0
    tail_multiplier: float = 10.0
    cold_start_ms: float = 0.0
    stall_rate: float = 0.0
    stall_ms: float = 0.0
    error_burst_rate: float = 0.0
    error_burst_errors: float = 0.2
    pod_speed_sd: float = 0.0
    pod: str = ""
    seed: int | None = None
    events_receiver: bool = False
    events_report_to: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AppKnobs:
        """Read ``TARGET``, ``K_REVISION`` and the ``SIM_*`` knobs; ``KnobError`` if one is invalid.

        Unset or empty knobs take their defaults (docs/emulator-dataplane.md, "Sample app").
        """
        default = cls()
        seed_text = env.get("SIM_SEED", "").strip()
        receiver = env.get("EVENTS_RECEIVER", "").strip().lower()
        if receiver not in _TRUE + _FALSE:
            raise KnobError(f"invalid EVENTS_RECEIVER={receiver!r}: want true or false")
        report_to = env.get("EVENTS_REPORT_TO", "").strip()
        if report_to:
            parts = urlsplit(report_to)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise KnobError(f"invalid EVENTS_REPORT_TO={report_to!r}: want an http(s) URL")
        if seed_text and not seed_text.lstrip("-").isdigit():
            raise KnobError(f"invalid SIM_SEED={seed_text!r}: want an integer")
        return cls(
            target=env.get("TARGET") or default.target,
            revision=env.get("K_REVISION", ""),
            latency_ms=_number(env, "SIM_LATENCY_MS", default.latency_ms, 0.0, math.inf),
            latency_sigma=_number(env, "SIM_LATENCY_SIGMA", default.latency_sigma, 0.0, 10.0),
            error_rate=_number(env, "SIM_ERROR_RATE", default.error_rate, 0.0, 1.0),
            tail_rate=_number(env, "SIM_TAIL_RATE", default.tail_rate, 0.0, 1.0),
            tail_multiplier=_number(
                env, "SIM_TAIL_MULTIPLIER", default.tail_multiplier, 1.0, math.inf
            ),
            cold_start_ms=_number(env, "SIM_COLD_START_MS", default.cold_start_ms, 0.0, math.inf),
            stall_rate=_number(env, "SIM_STALL_RATE", default.stall_rate, 0.0, 1.0),
            stall_ms=_number(env, "SIM_STALL_MS", default.stall_ms, 0.0, math.inf),
            error_burst_rate=_number(
                env, "SIM_ERROR_BURST_RATE", default.error_burst_rate, 0.0, 1.0
            ),
            error_burst_errors=_number(
                env, "SIM_ERROR_BURST_ERRORS", default.error_burst_errors, 0.0, 1.0
            ),
            pod_speed_sd=_number(env, "SIM_POD_SPEED_SD", default.pod_speed_sd, 0.0, 1.0),
            pod=env.get("SERVING_POD", ""),
            seed=int(seed_text) if seed_text else None,
            events_receiver=receiver in _TRUE,
            events_report_to=report_to,
        )


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (low <= value <= high):  # also rejects nan
        bound = f"at least {low:g}" if high == math.inf else f"between {low:g} and {high:g}"
        raise KnobError(f"invalid {name}={text!r}: want a number {bound}")
    return value


class SampleApp:
    """The request behaviour of the sample app, independent of any HTTP server."""

    def __init__(self, knobs: AppKnobs, clock: Callable[[], float] = time.monotonic) -> None:
        self.knobs = knobs
        self.body = f"Hello {knobs.target}!\n".encode()
        self._random = random.Random(knobs.seed)
        self._mu = math.log(knobs.latency_ms) if knobs.latency_ms > 0 else -math.inf
        # The pod's own draws (speed, stalls, bursts): seeded per revision and pod, so that
        # two revisions (or pods) with the same SIM_SEED do not stall in lockstep.
        self._faults = random.Random(
            None if knobs.seed is None else f"{knobs.seed}:{knobs.revision}:{knobs.pod}"
        )
        self.speed = (
            math.exp(self._faults.gauss(0.0, knobs.pod_speed_sd)) if knobs.pod_speed_sd else 1.0
        )
        self._clock = clock
        self._second: int | None = None
        self._stall_ms = 0.0
        self._burst = False
        self.events: EventLog | None = (
            EventLog(knobs.revision, knobs.pod) if knobs.events_receiver else None
        )
        self._forwarder: asyncio.Task[None] | None = None

    def _this_second(self) -> tuple[float, bool]:
        """(stall ms, error burst?) of the current second of this pod, drawn once per second."""
        knobs = self.knobs
        if not (knobs.stall_rate or knobs.error_burst_rate):
            return 0.0, False
        second = int(self._clock())
        if second != self._second:
            self._second = second
            rnd = self._faults
            stalled = knobs.stall_rate > 0 and rnd.random() < knobs.stall_rate
            self._stall_ms = rnd.uniform(0.0, knobs.stall_ms) if stalled else 0.0
            self._burst = knobs.error_burst_rate > 0 and rnd.random() < knobs.error_burst_rate
        return self._stall_ms, self._burst

    def draw(self) -> tuple[int, float]:
        """One request's outcome: (HTTP status, seconds to wait before answering)."""
        rnd = self._random
        delay_ms = (
            rnd.lognormvariate(self._mu, self.knobs.latency_sigma) * self.speed
            if self.knobs.latency_ms > 0
            else 0.0
        )
        if self.knobs.tail_rate > 0 and rnd.random() < self.knobs.tail_rate:
            delay_ms *= self.knobs.tail_multiplier
        stall_ms, burst = self._this_second()
        delay_ms += stall_ms
        error_rate = self.knobs.error_burst_errors if burst else self.knobs.error_rate
        failed = error_rate > 0 and rnd.random() < error_rate
        return (500 if failed else 200), delay_ms / 1000.0

    async def respond(self, request: Incoming | None = None) -> tuple[int, bytes]:
        """Serve one request: wait the drawn latency, then return (status, body).

        In receiver mode, ``request`` (when given) may be a delivery to record or a
        report to serve.
        """
        if self.events is not None and request is not None:
            if request.path == REPORT_PATH:
                return await self._report(request, self.events)
            if request.method == "POST":
                return await self._receive(request, self.events)
        status, delay = self.draw()
        if delay > 0:
            await asyncio.sleep(delay)
        return status, (self.body if status == 200 else _ERROR_BODY)

    async def _receive(self, request: Incoming, events: EventLog) -> tuple[int, bytes]:
        received = now_ns()
        body = await request.read()
        status, delay = self.draw()
        if delay > 0:
            await asyncio.sleep(delay)
        if not events.record(request.headers, body, status, received, now_ns()):
            return 400, b"not a CloudEvent\n"
        if self.knobs.events_report_to and self._forwarder is None:
            self._forwarder = asyncio.ensure_future(
                forward_forever(events, self.knobs.events_report_to)
            )
        return status, (b"" if status < 300 else _ERROR_BODY)

    async def _report(self, request: Incoming, events: EventLog) -> tuple[int, bytes]:
        if request.method == "POST":
            body = await request.read()
            if events.accept_forwarded(body):
                return 202, b""
            return 400, b"not a batch of event records\n"
        if request.method != "GET":
            return 405, b"method not allowed\n"
        run = request.query.get("run", "")
        after = request.query.get("after", "0")
        if not run or len(run) > 64 or not after.isdigit() or len(after) > 12:
            return 400, b"want ?run=RUN[&after=N]\n"
        return 200, json.dumps(events.report(run, int(after))).encode()


def _standalone_handler(app: SampleApp) -> Callable[[web.Request], Awaitable[web.Response]]:
    headers = {REVISION_HEADER: app.knobs.revision}

    async def handle(request: web.Request) -> web.Response:
        status, body = await app.respond(request)
        return web.Response(status=status, body=body, headers=headers, content_type="text/plain")

    return handle


async def serve(knobs: AppKnobs, host: str, port: int) -> None:
    """Serve the app on host:port until cancelled; binds only after ``SIM_COLD_START_MS``.

    Binding late is how a slow-starting container looks to Knative's default TCP
    readiness probe.
    """
    if knobs.cold_start_ms > 0:
        await asyncio.sleep(knobs.cold_start_ms / 1000.0)
    web_app = web.Application()
    web_app.router.add_route("*", "/{tail:.*}", _standalone_handler(SampleApp(knobs)))
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def _port(text: str | None) -> int:
    if text is None or not text.strip():
        return 8080
    if not text.strip().isdigit() or not 0 < int(text) < 65536:
        raise KnobError(f"invalid port {text!r}: want an integer between 1 and 65535")
    return int(text)


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m harness.local.app``; bad knobs: one line on stderr, exit 2."""
    parser = argparse.ArgumentParser(prog="python -m harness.local.app", description=__doc__)
    parser.add_argument("--port", help="port to listen on (default: $PORT, else 8080)")
    parser.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    args = parser.parse_args(argv)
    try:
        port = _port(args.port if args.port is not None else os.environ.get("PORT"))
        knobs = AppKnobs.from_env(os.environ)
    except KnobError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    try:
        asyncio.run(serve(knobs, args.host, port))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{port}: {exc.strerror}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
