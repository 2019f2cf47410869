"""The receiver mode of the sample app: record every CloudEvent delivered, serve a report.

With ``EVENTS_RECEIVER=true`` in its env, the sample app (`harness.local.app`) treats a
``POST`` that carries a CloudEvent as a delivery: it answers as its ``SIM_*`` knobs say
(latency, a share of 500s) and records the event with its revision, the delivery attempt
(the emulator's ``Knative-Harness-Delivery-Attempt`` header, else 1), the status it
answered, its receive time, its send time (``harnesssendtime``), its broker arrival time
(``knativearrivaltime``), its processing time and whether it came from a dead letter sink
(``knativeerrordest``). ``GET /harness/events?run=RUN&after=N`` serves the records of one
run (`report` pages through them). A pod with ``EVENTS_REPORT_TO=URL`` also posts its
records to that URL's ``/harness/events`` (a dedicated receiver Service on a real
cluster, where a tag URL reaches one pod of many); any receiver accepts such posts.

Memory is bounded: at most `MAX_RECORDS` records over at most `MAX_RUNS` runs (the
oldest run is forgotten first); records beyond are counted in ``overflow``.

This module needs only the standard library and aiohttp: the sample app's container
copies it beside ``app.py`` (examples/sample-app/Dockerfile).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote

RUN_EXTENSION = "harnessrun"
SEND_TIME_EXTENSION = "harnesssendtime"
STRUCTURED = "application/cloudevents+json"
REPORT_PATH = "/harness/events"
ATTEMPT_HEADER = "Knative-Harness-Delivery-Attempt"
ERROR_DEST_EXTENSION = "knativeerrordest"
ARRIVAL_EXTENSION = "knativearrivaltime"
MAX_RECORDS = 500_000
MAX_RUNS = 16
PAGE = 20_000
MAX_FORWARD_BODY = 8 * 1024 * 1024
FORWARD_PERIOD_S = 0.5
# Foreign events (no run mark) are only counted.
FOREIGN = ""


@dataclass(frozen=True)
class Delivery:
    """One delivery as the receiver saw it (times in Unix nanoseconds, 0 when unknown)."""

    revision: str
    event_id: str
    attempt: int
    status: int
    received_ns: int
    sent_ns: int
    arrival_ns: int
    processing_us: int
    dead_letter: bool

    def to_wire(self) -> list[Any]:
        """The compact JSON form of a report row."""
        return [
            self.revision,
            self.event_id,
            self.attempt,
            self.status,
            self.received_ns,
            self.sent_ns,
            self.arrival_ns,
            self.processing_us,
            1 if self.dead_letter else 0,
        ]


def parse_delivery(row: Any) -> Delivery:
    """Inverse of `Delivery.to_wire`; ValueError for a malformed row."""
    if not isinstance(row, list) or len(row) != 9:
        raise ValueError("a delivery row is a list of 9 values")
    revision, event_id = row[0], row[1]
    if not isinstance(revision, str) or not isinstance(event_id, str):
        raise ValueError("revision and event id must be strings")
    if len(revision) > 253 or len(event_id) > 512:
        raise ValueError("revision or event id too long")
    numbers = row[2:]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in numbers):
        raise ValueError("delivery counts and times must be non-negative integers")
    return Delivery(
        revision,
        event_id,
        numbers[0],
        numbers[1],
        numbers[2],
        numbers[3],
        numbers[4],
        numbers[5],
        bool(numbers[6]),
    )


def _int_ns(text: str | None) -> int:
    if not text or not text.isdigit() or len(text) > 20:
        return 0
    return int(text)


_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9})\d*)?([Zz]|[+-]\d{2}:\d{2})$"
)


def rfc3339_ns(text: str | None) -> int:
    """Unix nanoseconds of an RFC 3339 timestamp (Knative's ``knativearrivaltime`` has
    nanoseconds), 0 when it is not one."""
    match = _RFC3339.match(text or "")
    if match is None:
        return 0
    day, clock, fraction, zone = match.groups()
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        seconds = int(datetime.fromisoformat(f"{day}T{clock}{zone}").timestamp())
    except ValueError:
        return 0
    return seconds * 1_000_000_000 + int((fraction or "0").ljust(9, "0"))


def read_attributes(headers: Mapping[str, str], body: bytes) -> dict[str, str] | None:
    """The context attributes of a CloudEvent in binary or structured mode (HTTP binding
    1.0), as strings; None when the request carries none (no spec version, id, source or
    type)."""
    media = headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    attrs: dict[str, str] = {}
    if media == STRUCTURED:
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(document, dict):
            return None
        for key, value in document.items():
            if key not in ("data", "data_base64") and isinstance(value, str | int | float):
                attrs[str(key)] = str(value)
    else:
        for key, value in headers.items():
            if len(key) > 3 and key[:3].lower() == "ce-":
                attrs[key[3:].lower()] = unquote(value) if "%" in value else value
    if not all(attrs.get(name) for name in ("specversion", "id", "source", "type")):
        return None
    return attrs


class EventLog:
    """The records of one receiver process, by run."""

    def __init__(self, revision: str, pod: str = "") -> None:
        self.revision = revision
        self.pod = pod
        self._runs: OrderedDict[str, list[Delivery]] = OrderedDict()
        self.size = 0
        self.overflow = 0
        self.foreign = 0
        self._outbox: list[tuple[str, Delivery]] = []

    def record(
        self, headers: Mapping[str, str], body: bytes, status: int, received_ns: int, done_ns: int
    ) -> bool:
        """Record a delivery answered ``status``; False when the request is no CloudEvent."""
        attrs = read_attributes(headers, body)
        if attrs is None:
            return False
        attempt_text = headers.get(ATTEMPT_HEADER, "1")
        attempt = int(attempt_text) if attempt_text.isdigit() and len(attempt_text) < 6 else 1
        run = attrs.get(RUN_EXTENSION, FOREIGN)
        if run == FOREIGN:
            self.foreign += 1
            return True
        delivery = Delivery(
            revision=self.revision,
            event_id=attrs["id"][:512],
            attempt=attempt,
            status=status,
            received_ns=received_ns,
            sent_ns=_int_ns(attrs.get(SEND_TIME_EXTENSION)),
            arrival_ns=rfc3339_ns(attrs.get(ARRIVAL_EXTENSION)),
            processing_us=max(0, (done_ns - received_ns) // 1000),
            dead_letter=ERROR_DEST_EXTENSION in attrs,
        )
        self.add(run[:64], [delivery])
        return True

    def add(self, run: str, deliveries: list[Delivery], *, forward: bool = True) -> None:
        """Keep ``deliveries`` of ``run`` (within the bounds)."""
        if forward:
            self._outbox.extend((run, d) for d in deliveries)
        rows = self._runs.get(run)
        if rows is None:
            while len(self._runs) >= MAX_RUNS:
                _, dropped = self._runs.popitem(last=False)
                self.size -= len(dropped)
            rows = self._runs[run] = []
        room = MAX_RECORDS - self.size
        if room < len(deliveries):
            self.overflow += len(deliveries) - max(room, 0)
            deliveries = deliveries[: max(room, 0)]
        rows.extend(deliveries)
        self.size += len(deliveries)

    def report(self, run: str, after: int = 0, page: int = PAGE) -> dict[str, Any]:
        """One page of a run's records (rows ``after`` .. ``after + page``)."""
        rows = self._runs.get(run, [])
        chunk = rows[after : after + page]
        return {
            "revision": self.revision,
            "pod": self.pod,
            "run": run,
            "total": len(rows),
            "next": after + len(chunk),
            "overflow": self.overflow,
            "foreign": self.foreign,
            "records": [d.to_wire() for d in chunk],
        }

    def take_outbox(self) -> list[tuple[str, Delivery]]:
        """The (run, record) pairs not yet forwarded (and forget them)."""
        out, self._outbox = self._outbox, []
        return out

    def accept_forwarded(self, body: bytes) -> bool:
        """Keep a batch another receiver posted (``{"run": ..., "records": [...]}``)."""
        try:
            data = json.loads(body)
            run = data["run"]
            rows = [parse_delivery(row) for row in data["records"]]
        except (ValueError, KeyError, TypeError):
            return False
        if not isinstance(run, str) or not run or len(run) > 64:
            return False
        self.add(run, rows, forward=False)
        return True


async def forward_forever(log: EventLog, url: str) -> None:
    """Post the pod's new records to ``url`` every `FORWARD_PERIOD_S` (until cancelled).

    A failed post is retried with the next batch (records are kept until posted, at most
    `MAX_RECORDS`).
    """
    import aiohttp

    target = url.rstrip("/") + REPORT_PATH
    pending: list[tuple[str, Delivery]] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        while True:
            await asyncio.sleep(FORWARD_PERIOD_S)
            pending.extend(log.take_outbox())
            if not pending:
                continue
            try:
                while pending:
                    run = pending[0][0]
                    rows = [d for r, d in pending[:PAGE] if r == run]
                    body = {"run": run, "records": [d.to_wire() for d in rows]}
                    async with session.post(target, json=body) as response:
                        response.raise_for_status()
                    # Only what was posted leaves the queue, so nothing is posted twice.
                    pending = [p for p in pending[:PAGE] if p[0] != run] + pending[PAGE:]
            except (aiohttp.ClientError, TimeoutError):
                pending = pending[-MAX_RECORDS:]


def now_ns() -> int:
    """The wall clock in Unix nanoseconds (what send and arrival times are in)."""
    return time.time_ns()
