"""CloudEvents over HTTP (protocol binding 1.0): read an event from a request in binary or
structured mode, write it back in binary mode, and validate it as the Go SDK does.

The broker ingress reads with :func:`from_http`; the dispatcher sends with
:func:`to_binary`. An event is its context attributes (``specversion``, ``id``,
``source``, ``type``, optional ``subject``, ``time``, ``dataschema``, ``datacontenttype``
and extensions, all kept as strings, the canonical string form of the binding) plus its
data as bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, unquote

SPEC_VERSIONS = frozenset({"1.0", "0.3"})
STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
ARRIVAL_TIME = "knativearrivaltime"  # knative/eventing pkg/broker/metrics.go
_REQUIRED = ("id", "source", "type")
_EXTENSION_NAME = re.compile(r"^[a-z0-9]+$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
# Header-safe characters of the binding's percent-encoding (printable ASCII but '"' and '%').
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%') + " "


class InvalidEvent(ValueError):
    """The request does not carry a valid CloudEvent (the ingress answers 400)."""


@dataclass
class CloudEvent:
    """Context attributes (strings) and data (bytes) of one event."""

    attributes: dict[str, str]
    data: bytes = b""

    @property
    def id(self) -> str:
        return self.attributes.get("id", "")

    @property
    def type(self) -> str:
        return self.attributes.get("type", "")

    def copy(self) -> CloudEvent:
        return CloudEvent(dict(self.attributes), self.data)


def rfc3339_nano(epoch_ns: int | None = None) -> str:
    """Go's ``time.RFC3339Nano`` in UTC (trailing zeros of the fraction trimmed)."""
    ns = time.time_ns() if epoch_ns is None else epoch_ns
    seconds, frac = divmod(ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if frac:
        stamp += "." + f"{frac:09d}".rstrip("0")
    return stamp + "Z"


def parse_rfc3339(text: str) -> float | None:
    """Seconds since the epoch of an RFC 3339 timestamp (nanoseconds kept to 1 µs), or None."""
    if not _RFC3339.match(text):
        return None
    head, _, rest = text.partition(".")
    frac = ""
    if rest:
        digits = re.match(r"\d+", rest)
        frac = digits.group(0) if digits else ""
        zone = rest[len(frac) :]
    else:
        zone = head[19:]
        head = head[:19]
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        base = datetime.fromisoformat(head[:19].replace("t", "T") + zone)
    except ValueError:
        return None
    return base.timestamp() + (float("0." + frac) if frac else 0.0)


def validate(event: CloudEvent) -> None:
    """The Go SDK's ``event.Validate``: spec version, required attributes, time format,
    extension names. Raises :class:`InvalidEvent`."""
    attrs = event.attributes
    if attrs.get("specversion") not in SPEC_VERSIONS:
        raise InvalidEvent(f"unsupported specversion {attrs.get('specversion')!r}")
    for name in _REQUIRED:
        if not attrs.get(name):
            raise InvalidEvent(f"{name}: REQUIRED but MISSING")
    stamp = attrs.get("time")
    if stamp is not None and parse_rfc3339(stamp) is None:
        raise InvalidEvent(f"time: not an RFC 3339 timestamp: {stamp!r}")
    for name in attrs:
        if not _EXTENSION_NAME.match(name):
            raise InvalidEvent(
                f"bad key {name!r}: CloudEvents attribute names MUST consist of lower-case "
                "letters ('a' to 'z') or digits ('0' to '9')"
            )


def is_event_response(headers: Mapping[str, str]) -> bool:
    """Whether an HTTP message looks like it carries a CloudEvent (a reply)."""
    if "ce-specversion" in headers:
        return True
    return headers.get("Content-Type", "").split(";", 1)[0].strip().lower() == STRUCTURED


def from_http(headers: Mapping[str, str], body: bytes) -> CloudEvent:
    """Read a CloudEvent in binary or structured mode; :class:`InvalidEvent` if there is none."""
    content_type = headers.get("Content-Type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media == STRUCTURED:
        event = _from_structured(body)
    elif media == BATCH:
        raise InvalidEvent("batched events are not accepted by a broker")
    else:
        event = _from_binary(headers, body, content_type)
    validate(event)
    return event


def _from_binary(headers: Mapping[str, str], body: bytes, content_type: str) -> CloudEvent:
    attrs: dict[str, str] = {}
    for key, value in headers.items():
        if len(key) > 3 and key[:3].lower() == "ce-":
            attrs[key[3:].lower()] = unquote(value) if "%" in value else value
    if "specversion" not in attrs:
        raise InvalidEvent("no ce-specversion header and not a structured event")
    if content_type:
        attrs["datacontenttype"] = content_type
    return CloudEvent(attrs, body)


def _string(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return json.dumps(value)
    raise InvalidEvent(f"attribute value of unsupported type: {type(value).__name__}")


def _from_structured(body: bytes) -> CloudEvent:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEvent(f"structured event is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise InvalidEvent("structured event is not a JSON object")
    attrs: dict[str, str] = {}
    data: bytes = b""
    for key, value in document.items():
        if key == "data":
            continue
        if key == "data_base64":
            try:
                data = base64.b64decode(str(value), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise InvalidEvent(f"data_base64 is not base64: {exc}") from exc
            continue
        if value is None:
            continue
        attrs[str(key)] = _string(value)
    if "data" in document:
        value = document["data"]
        media = attrs.get("datacontenttype", "application/json").split(";", 1)[0].strip()
        if isinstance(value, str) and not (media.endswith("json") or media.endswith("+json")):
            data = value.encode()
        else:
            data = json.dumps(value, separators=(",", ":")).encode()
            attrs.setdefault("datacontenttype", "application/json")
    return CloudEvent(attrs, data)


def to_binary(event: CloudEvent, skip: str = "") -> dict[str, str]:
    """The headers of the event in binary mode (the body is ``event.data``), without the
    attribute ``skip``."""
    headers: dict[str, str] = {}
    for name, value in event.attributes.items():
        if name == skip:
            continue
        if name == "datacontenttype":
            headers["Content-Type"] = value
        else:
            headers["ce-" + name] = quote(value, safe=_SAFE)
    return headers
