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
from dataclasses import dataclass

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
    """Builds one HTTP request (headers, body) per event with the SDK's HTTP binding."""

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

    def encode(self, event_id: str, send_ns: int) -> tuple[dict[str, str], bytes]:
        """Headers and body of the event ``event_id`` sent at ``send_ns`` (Unix ns)."""
        event = self._event(
            {
                "id": event_id,
                "source": self.shape.source,
                "type": self.shape.type,
                RUN_EXTENSION: self.run,
                SEND_TIME_EXTENSION: str(send_ns),
            },
            None,
        )
        message = self._write(event, self._format)
        return message.headers, message.body
