"""The events `harness events` sends, built with the ``cloudevents`` SDK (PyPI).

Every event carries two extensions besides its unique ``id``:

* ``harnessrun``: the run's token, so a receiver keeps the runs apart and the
  accounting ignores other traffic on the same Broker;
* ``harnesssendtime``: the send time in Unix nanoseconds (a string, as the HTTP binding
  carries every attribute), from which the receiver's end-to-end delivery latency is
  taken.

Event ids are ``<run>.<sender>.<seq>``: the run token, the sending user (its process
and number) and its own sequence number, so ids never repeat within a run.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from harness.errors import BadInput
from harness.events.receiver import RUN_EXTENSION, SEND_TIME_EXTENSION

__all__ = ["RUN_EXTENSION", "SEND_TIME_EXTENSION", "Encoder", "EventShape", "event_id"]
MODES = ("binary", "structured")
DEFAULT_TYPE = "dev.knative.harness.event"
DEFAULT_SOURCE = "knative-harness"
_RUN_TOKEN = re.compile(r"^[a-z0-9]{4,32}$")
# type and source: printable ASCII without spaces (a URI-reference and a reverse-DNS
# name in practice); bounded so that every header stays small.
_ATTRIBUTE = re.compile(r"^[\x21-\x7e]{1,256}$")


@dataclass(frozen=True)
class EventShape:
    """What every event of a run looks like: its ``type``, ``source`` and HTTP mode."""

    type: str = DEFAULT_TYPE
    source: str = DEFAULT_SOURCE
    mode: str = "binary"

    def validate(self) -> None:
        """Raise ``BadInput`` (one line naming the flag) for an unusable attribute."""
        for flag, value in (("--type", self.type), ("--source", self.source)):
            if not _ATTRIBUTE.match(value) or '"' in value or "%" in value:
                raise BadInput(
                    f"{flag} {value!r} must be 1 to 256 printable ASCII characters without "
                    "spaces, quotes or %"
                )
        if self.mode not in MODES:
            raise BadInput(f"--mode {self.mode!r} must be binary or structured")


def require_run_token(token: str) -> str:
    """The run token, checked: 4 to 32 lower-case letters and digits."""
    if not _RUN_TOKEN.match(token):
        raise BadInput(f"event run token {token!r} must be 4-32 lower-case letters or digits")
    return token


def event_id(run: str, sender: str, seq: int) -> str:
    """The id of a sender's ``seq``-th event of run ``run``."""
    return f"{run}.{sender}.{seq}"


class Encoder:
    """Builds one HTTP request (headers, body) per event with the SDK's HTTP binding.

    The SDK encodes a template event of the run once (its ``source``, ``type``, run
    token, spec version, and placeholders for the rest); each event then fills in its
    ``id``, send time and ``time``, whose characters need no escaping in either mode (ids
    are ``[a-z0-9.-]``, the others digits and an RFC 3339 stamp). Building every event
    with the SDK cost about 40 us; tests/events/test_sender_encoding.py checks that both
    give the same bytes.
    """

    def __init__(self, shape: EventShape, run: str) -> None:
        from cloudevents.core.bindings import http
        from cloudevents.core.formats.json import JSONFormat
        from cloudevents.core.v1.event import CloudEvent

        shape.validate()
        self.shape = shape
        self.run = require_run_token(run)
        self._format = JSONFormat()
        self._write = http.to_binary if shape.mode == "binary" else http.to_structured
        self._event = CloudEvent
        stamp = datetime(2000, 1, 1, tzinfo=UTC)
        headers, body = self.encode_with_sdk(_ID_MARK, _SEND_MARK, stamp)
        marks = {_ID_MARK: "id", str(_SEND_MARK): "send", _rfc3339(stamp): "time"}
        self._headers = headers
        self._keys = [(name, marks[value]) for name, value in headers.items() if value in marks]
        self._parts = _split_template(body.decode(), marks)
        kinds = {kind for _, kind in self._keys} | {kind for _, kind in self._parts if kind}
        # A --type or --source that contains a mark: the SDK builds every event.
        self._template = kinds == {"id", "send", "time"} and not any(
            mark in value for mark in marks for value in (shape.type, shape.source)
        )
        self._second = -1
        self._second_text = ""

    def encode(self, event_id: str, send_ns: int) -> tuple[dict[str, str], bytes]:
        """Headers and body of the event ``event_id`` sent at ``send_ns`` (Unix ns)."""
        if not self._template:
            stamp = _EPOCH + timedelta(microseconds=send_ns // 1000)
            return self.encode_with_sdk(event_id, send_ns, stamp)
        values = {"id": event_id, "send": str(send_ns), "time": self._stamp(send_ns)}
        headers = dict(self._headers)
        for name, kind in self._keys:
            headers[name] = values[kind]
        parts = self._parts
        if len(parts) == 1:
            return headers, parts[0][0].encode()
        return headers, "".join(
            text + values[kind] if kind else text for text, kind in parts
        ).encode()

    def encode_with_sdk(
        self, event_id: str, send_ns: int, stamp: datetime
    ) -> tuple[dict[str, str], bytes]:
        """The same event built and written by the SDK alone (one object per event)."""
        event = self._event(
            {
                "id": event_id,
                "source": self.shape.source,
                "type": self.shape.type,
                RUN_EXTENSION: self.run,
                SEND_TIME_EXTENSION: str(send_ns),
                "time": stamp,
            },
            None,
        )
        message = self._write(event, self._format)
        return dict(message.headers), message.body

    def _stamp(self, send_ns: int) -> str:
        """``send_ns`` as the SDK writes a ``time`` (microseconds, ``Z``)."""
        second, rest = divmod(send_ns, 1_000_000_000)
        if second != self._second:
            self._second = second
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        micros = rest // 1000
        return f"{self._second_text}.{micros:06d}Z" if micros else f"{self._second_text}Z"


_ID_MARK = "harnessidmark"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SEND_MARK = 987654321987654321


def _rfc3339(stamp: datetime) -> str:
    text = stamp.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _split_template(text: str, marks: dict[str, str]) -> list[tuple[str, str]]:
    """``text`` as (literal, kind of the mark that follows it, or "") pieces."""
    pieces: list[tuple[str, str]] = []
    while True:
        found = [(text.find(mark), mark) for mark in marks if mark in text]
        if not found:
            pieces.append((text, ""))
            return pieces
        at, mark = min(found)
        pieces.append((text[:at], marks[mark]))
        text = text[at + len(mark) :]
