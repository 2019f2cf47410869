"""One keep-alive HTTP/1.1 connection for the events sender's Locust user (plain ``http``).

The Locust client (geventhttpclient) walks every header several times per request
(merging, validation, chunked and ``Expect`` checks); a binary-mode CloudEvent has seven
``ce-*`` headers, which made an event cost 1.6x a plain GET (docs/eventing.md,
"Performance"). Each user sends one event at a time, so one socket per user is enough:
this writes the request bytes at once and reads the answer's status line, headers and
body (``Content-Length``, ``chunked`` or until the connection ends). Under Locust the
socket module is gevent's, so a blocking call yields to the other users. An idle
connection that became readable (the server closed it) is replaced before sending; a
request is never sent twice (an event must not be duplicated by the sender).
"""

from __future__ import annotations

import select
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024


class WireError(ConnectionError):
    """No valid answer (refused, reset, closed early, not HTTP/1.x)."""


class Headers(dict[str, str]):
    """Answer headers by lower-case name; lookups ignore case."""

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and dict.__contains__(self, key.lower())

    def __getitem__(self, key: str) -> str:
        return dict.__getitem__(self, key.lower())

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return dict.get(self, key.lower(), default)


@dataclass(frozen=True)
class WireAnswer:
    status_code: int
    headers: Headers
    content: bytes


def endpoint(base_url: str) -> tuple[str, int, str] | None:
    """(host, port, Host header) of an ``http://`` base URL; None for anything else."""
    parts = urlsplit(base_url)
    try:
        port = parts.port or 80
    except ValueError:
        return None
    if parts.scheme != "http" or not parts.hostname:
        return None
    return parts.hostname, port, parts.netloc


class Wire:
    """A keep-alive connection to one ``host:port`` (opened on first use)."""

    def __init__(self, host: str, port: int, *, connect_timeout: float, timeout: float) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self._sock: socket.socket | None = None

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def post(self, path: str, host: str, headers: Mapping[str, str], body: bytes) -> WireAnswer:
        """POST ``body``; the answer or :class:`WireError` / ``TimeoutError``."""
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        data = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n{head}\r\n"
        ).encode("latin-1", "replace") + body
        return self._exchange(data)

    def _exchange(self, data: bytes) -> WireAnswer:
        if self._sock is not None and _closed_by_peer(self._sock):
            self.close()  # closed while idle: a new connection, before sending anything
        if self._sock is None:
            self._sock = socket.create_connection((self.host, self.port), self.connect_timeout)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock.settimeout(self.timeout)
        sock = self._sock
        try:
            try:
                sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError) as exc:
                raise WireError(f"send failed: {exc}", "no answer") from exc
            answer, keep = _read_answer(sock)
        except BaseException:
            self.close()
            raise
        if not keep:
            self.close()
        return answer


def _closed_by_peer(sock: socket.socket) -> bool:
    """Whether an idle connection was closed (or got unexpected bytes): readable now."""
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


def _read_answer(sock: socket.socket) -> tuple[WireAnswer, bool]:
    buffer = bytearray()
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            break
        if len(buffer) > MAX_HEAD:
            raise WireError("answer head too large")
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError as exc:
            raise WireError(f"reset: {exc}", "no answer" if not buffer else "partial") from exc
        if not chunk:
            raise WireError("connection closed", "no answer" if not buffer else "partial")
        buffer += chunk
    lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
        raise WireError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    status = int(rest[:3])
    headers = Headers()
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    keep = (headers.get("connection") or "").lower() != "close" and version != "HTTP/1.0"
    body = buffer[end + 4 :]
    if 100 <= status < 200:  # an interim answer: read the final one
        raise WireError(f"unexpected interim answer {status}")
    if status in (204, 304):
        return WireAnswer(status, headers, b""), keep and not body
    if "chunked" in (headers.get("transfer-encoding") or "").lower():
        return WireAnswer(status, headers, _read_chunked(sock, body)), keep
    length_text = headers.get("content-length")
    if length_text is not None:
        if not length_text.isdigit() or int(length_text) > MAX_BODY:
            raise WireError(f"bad Content-Length {length_text[:40]!r}")
        length = int(length_text)
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise WireError("connection closed in the body", "partial")
            body += chunk
        return WireAnswer(status, headers, bytes(body[:length])), keep and len(body) == length
    while len(body) <= MAX_BODY:  # until the connection ends
        chunk = sock.recv(65536)
        if not chunk:
            return WireAnswer(status, headers, bytes(body)), False
        body += chunk
    raise WireError("answer body too large")


def _read_chunked(sock: socket.socket, pending: bytearray) -> bytes:
    body = bytearray()
    buffer = pending

    def fill() -> None:
        chunk = sock.recv(65536)
        if not chunk:
            raise WireError("connection closed in a chunked body", "partial")
        buffer.extend(chunk)

    while True:
        while b"\r\n" not in buffer:
            fill()
        line, _, rest = bytes(buffer).partition(b"\r\n")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise WireError("bad chunk size") from exc
        if len(body) + size > MAX_BODY:
            raise WireError("answer body too large")
        buffer[:] = rest
        if size == 0:
            while b"\r\n\r\n" not in b"\r\n" + buffer:  # trailers, then the empty line
                fill()
            return bytes(body)
        while len(buffer) < size + 2:
            fill()
        body += buffer[:size]
        buffer[:] = buffer[size + 2 :]
