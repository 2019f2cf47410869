"""A lean HTTP/1.1 keep-alive client for the dispatcher's POSTs (plain ``http`` only).

The dispatcher sends one small POST per delivery attempt and needs the status, the
response headers (a reply event) and the body. A general client (aiohttp's) spent half of
the dispatch CPU on things it does not need (docs/eventing.md, "Performance"), so this one
writes the request bytes directly on a pooled connection (an ``asyncio.Protocol``, one
future per request) and parses only the status line, the header lines and a body framed
by ``Content-Length``, ``chunked`` or the connection's end. One pool per ``host:port``
keeps idle connections for reuse; a connection is dropped after ``Connection: close``, an
unframed body, an error or a timeout. An idle connection the server closed is dropped
before it is used; a request is never sent twice by the client (a failure is a failed
attempt, which the delivery policy may retry, as with Knative's dispatcher).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from multidict import CIMultiDict, CIMultiDictProxy

MAX_IDLE_PER_HOST = 128
MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
_EMPTY: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())


class HTTPError(Exception):
    """No (valid) answer: refused, reset, timed out or not HTTP/1.x."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes


class _Connection(asyncio.Protocol):
    """One TCP connection: a request at a time, its answer parsed as bytes arrive."""

    __slots__ = (
        "_body_start",
        "_buffer",
        "_chunked",
        "_headers",
        "_length",
        "_status",
        "_waiter",
        "closed",
        "keep_alive",
        "transport",
    )

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.keep_alive = True
        self._buffer = bytearray()
        self._waiter: asyncio.Future[Answer] | None = None
        self._status = 0
        self._headers: CIMultiDictProxy[str] = _EMPTY
        self._body_start = -1
        self._length = -1  # -1: until the connection ends
        self._chunked = False

    # ----- asyncio.Protocol -----

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._waiter is None:  # bytes nobody asked for: the connection is unusable
            self.close()
            return
        try:
            answer = self._parse(eof=False)
        except HTTPError as exc:
            self._fail(exc)
            return
        if answer is not None:
            self._finish(answer)

    def eof_received(self) -> bool | None:
        self.keep_alive = False
        if self._waiter is not None:
            try:
                answer = self._parse(eof=True)
            except HTTPError as exc:
                self._fail(exc)
                return None
            if answer is not None:
                self._finish(answer)
            else:
                self._fail(HTTPError("connection closed before the answer ended"))
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.keep_alive = False
        if self._waiter is not None:
            try:
                answer = self._parse(eof=True)
            except HTTPError as error:
                self._fail(error)
                return
            if answer is not None:
                self._finish(answer)
            else:
                self._fail(HTTPError(f"connection lost: {exc or 'closed'}"))

    # ----- requests -----

    def request(self, data: bytes) -> asyncio.Future[Answer]:
        assert self.transport is not None and self._waiter is None
        self._waiter = asyncio.get_running_loop().create_future()
        self._status = 0
        self._body_start = -1
        self.transport.write(data)
        return self._waiter

    def close(self) -> None:
        self.keep_alive = False
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _finish(self, answer: Answer) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)

    def _fail(self, exc: HTTPError) -> None:
        waiter, self._waiter = self._waiter, None
        self.close()
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    # ----- parsing -----

    def _parse(self, *, eof: bool) -> Answer | None:
        buffer = self._buffer
        if self._body_start < 0:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    raise HTTPError("answer head too large")
                return None
            self._read_head(bytes(buffer[:end]))
            if 100 <= self._status < 200:  # an interim answer (100 Continue): skip it
                del buffer[: end + 4]
                return self._parse(eof=eof)
            self._body_start = end + 4
        start = self._body_start
        if self._chunked:
            return self._parse_chunked(start)
        if self._length >= 0:
            if len(buffer) - start < self._length:
                return None
            return self._take(bytes(buffer[start : start + self._length]), start + self._length)
        if not eof:  # framed by the connection's end
            if len(buffer) - start > MAX_BODY:
                raise HTTPError("answer body too large")
            return None
        self.keep_alive = False
        return self._take(bytes(buffer[start:]), len(buffer))

    def _read_head(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise HTTPError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        headers: CIMultiDict[str] = CIMultiDict()
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise HTTPError(f"bad header line: {line[:80]!r}")
            headers.add(name, value.strip())
        self._status = int(code)
        self._headers = CIMultiDictProxy(headers)
        connection = headers.get("Connection", "").lower()
        if connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive"):
            self.keep_alive = False
        self._chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        self._length = -1
        if self._status in (204, 304):
            self._length = 0
        elif not self._chunked:
            length = headers.get("Content-Length")
            if length is not None:
                if not length.isdigit() or int(length) > MAX_BODY:
                    raise HTTPError(f"bad Content-Length: {length[:40]!r}")
                self._length = int(length)

    def _parse_chunked(self, start: int) -> Answer | None:
        buffer = self._buffer
        body = bytearray()
        at = start
        while True:
            line_end = buffer.find(b"\r\n", at)
            if line_end < 0:
                return None
            size_text = bytes(buffer[at:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError as exc:
                raise HTTPError("bad chunk size") from exc
            if size > MAX_BODY or len(body) + size > MAX_BODY:
                raise HTTPError("answer body too large")
            at = line_end + 2
            if size == 0:
                trailer_end = buffer.find(b"\r\n\r\n", at - 2)
                if trailer_end < 0:
                    return None
                return self._take(bytes(body), trailer_end + 4)
            if len(buffer) < at + size + 2:
                return None
            body += buffer[at : at + size]
            at += size + 2

    def _take(self, body: bytes, end: int) -> Answer:
        if len(self._buffer) > end:
            self.keep_alive = False  # bytes past the answer: do not reuse
        self._buffer.clear()
        return Answer(self._status, self._headers, body)


class Pool:
    """Keep-alive connections to one ``host:port``."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._idle: list[_Connection] = []

    async def _connect(self, timeout: float) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(_Connection, self.host, self.port), timeout
            )
        except (OSError, TimeoutError) as exc:
            raise HTTPError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        return protocol

    async def send(self, data: bytes, timeout: float, connect_timeout: float) -> Answer:
        """Send one request's bytes; the answer, or :class:`HTTPError`."""
        while self._idle:
            connection = self._idle.pop()
            if connection.closed or not connection.keep_alive:
                continue  # the server closed it while idle
            return await self._exchange(connection, data, timeout)
        connection = await self._connect(connect_timeout)
        return await self._exchange(connection, data, timeout)

    async def _exchange(self, connection: _Connection, data: bytes, timeout: float) -> Answer:
        loop = asyncio.get_running_loop()
        waiter = connection.request(data)
        timer = loop.call_later(timeout, _expire, connection)
        try:
            answer = await waiter
        except asyncio.CancelledError:
            connection.close()
            raise
        finally:
            timer.cancel()
        if connection.keep_alive and not connection.closed and len(self._idle) < MAX_IDLE_PER_HOST:
            self._idle.append(connection)
        else:
            connection.close()
        return answer

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()


def _expire(connection: _Connection) -> None:
    connection._fail(HTTPError("timed out"))


class Client:
    """Pools by ``host:port``."""

    def __init__(self, *, timeout: float, connect_timeout: float) -> None:
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._pools: dict[tuple[str, int], Pool] = {}

    async def send(self, host: str, port: int, data: bytes) -> Answer:
        pool = self._pools.get((host, port))
        if pool is None:
            pool = self._pools[(host, port)] = Pool(host, port)
        return await pool.send(data, self.timeout, self.connect_timeout)

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


def request_bytes(
    path: str, host: str, headers: Mapping[str, str] | list[tuple[str, str]], body: bytes
) -> bytes:
    """The bytes of ``POST path`` with ``headers`` (values without CR or LF: the caller
    checks) and ``body``."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    head = "".join(f"{name}: {value}\r\n" for name, value in items)
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n{head}\r\n"
    ).encode("latin-1", "replace") + body
