"""The events sender's own HTTP/1.1 connection (harness.events.wire) against raw servers
on loopback: keep-alive reuse, framing, a connection closed while idle, errors."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from harness.events.wire import Wire, WireError, endpoint

Handler = Callable[[socket.socket, int], None]


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


@contextmanager
def serve(handler: Handler) -> Iterator[tuple[int, list[int]]]:
    """A thread per connection; yields the port and the count of connections."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted: list[int] = []

    def loop() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(1)
            threading.Thread(target=handler, args=(conn, len(accepted)), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    try:
        yield port, accepted
    finally:
        listener.close()


def test_keep_alive_and_what_is_sent() -> None:
    seen: list[bytes] = []

    def handler(conn: socket.socket, _: int) -> None:
        with conn:
            while True:
                try:
                    seen.append(_read_request(conn))
                except ConnectionError:
                    return
                conn.sendall(
                    b"HTTP/1.1 202 Accepted\r\nK-Revision: r1\r\nContent-Length: 2\r\n\r\nok"
                )

    with serve(handler) as (port, accepted):
        wire = Wire("127.0.0.1", port, connect_timeout=5, timeout=5)
        for i in range(3):
            answer = wire.post("/ns/broker", "broker-ingress.example", {"ce-id": str(i)}, b"xy")
            assert (answer.status_code, answer.content) == (202, b"ok")
            assert "k-revision" in answer.headers and answer.headers["K-Revision"] == "r1"
        wire.close()
    assert len(accepted) == 1
    assert seen[2].startswith(b"POST /ns/broker HTTP/1.1\r\nHost: broker-ingress.example\r\n")
    assert b"ce-id: 2\r\n" in seen[2] and seen[2].endswith(b"\r\n\r\nxy")


def test_chunked_close_delimited_and_a_closed_idle_connection() -> None:
    answers = [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1;x\r\nc\r\n0\r\n\r\n",
        b"HTTP/1.1 500 Oops\r\nConnection: close\r\n\r\nthe end",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    ]

    closed = threading.Event()

    def handler(conn: socket.socket, n: int) -> None:
        with conn:
            _read_request(conn)
            conn.sendall(answers[n - 1])
            # then the server closes, even after the keep-alive answers
        if n == 1:
            closed.set()

    with serve(handler) as (port, accepted):
        wire = Wire("127.0.0.1", port, connect_timeout=5, timeout=5)
        first = wire.post("/", "h", {}, b"")
        assert (first.status_code, first.content) == (200, b"abc")
        # the server closed the first connection while it was idle (a fixed sleep was not
        # always enough for its thread on a loaded machine)
        assert closed.wait(60)
        second = wire.post("/", "h", {}, b"")  # on a new one, not sent twice
        assert (second.status_code, second.content) == (500, b"the end")
        third = wire.post("/", "h", {}, b"")
        assert third.status_code == 200
    assert len(accepted) == 3


def test_errors() -> None:
    def silent(conn: socket.socket, _: int) -> None:
        _read_request(conn)
        threading.Event().wait(5)
        conn.close()

    def garbage(conn: socket.socket, _: int) -> None:
        with conn:
            _read_request(conn)
            conn.sendall(b"SSH-2.0-x\r\n\r\n")

    with serve(silent) as (port, _), pytest.raises(TimeoutError):
        Wire("127.0.0.1", port, connect_timeout=5, timeout=0.3).post("/", "h", {}, b"")
    with serve(garbage) as (port, _), pytest.raises(WireError, match="status line"):
        Wire("127.0.0.1", port, connect_timeout=5, timeout=5).post("/", "h", {}, b"")
    free = socket.create_server(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    with pytest.raises(ConnectionRefusedError):
        Wire("127.0.0.1", port, connect_timeout=5, timeout=5).post("/", "h", {}, b"")


def test_endpoint() -> None:
    assert endpoint("http://127.0.0.1:8080") == ("127.0.0.1", 8080, "127.0.0.1:8080")
    assert endpoint("http://broker.example") == ("broker.example", 80, "broker.example")
    assert endpoint("https://broker.example") is None
    assert endpoint("http://h:99999") is None
