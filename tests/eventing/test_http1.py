"""The dispatcher's lean HTTP/1.1 client against raw servers on loopback: framing
(Content-Length, chunked, until close), keep-alive reuse, a connection the server closed
while idle, timeouts, refused connections and garbage."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest

from harness.local.eventing.http1 import Client, HTTPError, request_bytes

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return lines[0], headers, body


async def _serve(handler: Handler) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, int(server.sockets[0].getsockname()[1])


def _run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))


def test_keep_alive_reuses_one_connection_and_reads_headers_and_body() -> None:
    connections = 0
    seen: list[tuple[str, dict[str, str], bytes]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            while True:
                seen.append(await _read_request(reader))
                writer.write(
                    b"HTTP/1.1 200 OK\r\nce-specversion: 1.0\r\nContent-Length: 5\r\n\r\nhello"
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server, port = await _serve(handler)
        client = Client(timeout=5, connect_timeout=5)
        for i in range(5):
            data = request_bytes("/p?q=1", "h.example", {"ce-id": str(i)}, b"body")
            answer = await client.send("127.0.0.1", port, data)
            assert answer.status == 200
            assert answer.body == b"hello"
            assert answer.headers["CE-SPECVERSION"] == "1.0"
        client.close()
        server.close()

    _run(main())
    assert connections == 1
    assert [s[0] for s in seen] == ["POST /p?q=1 HTTP/1.1"] * 5
    assert seen[3][1]["ce-id"] == "3" and seen[3][1]["host"] == "h.example"
    assert seen[0][2] == b"body"


def test_chunked_and_close_framed_answers() -> None:
    answers = [
        b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nTrailer: x\r\n\r\n",
        b"HTTP/1.0 500 Boom\r\n\r\nuntil the end",
    ]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(answers.pop(0))
        await writer.drain()
        writer.close()

    async def main() -> None:
        server, port = await _serve(handler)
        client = Client(timeout=5, connect_timeout=5)
        first = await client.send("127.0.0.1", port, request_bytes("/", "h", {}, b""))
        assert (first.status, first.body) == (202, b"abcdefg")
        await asyncio.sleep(0.2)  # the server closed the connection while it was idle
        second = await client.send("127.0.0.1", port, request_bytes("/", "h", {}, b""))
        assert (second.status, second.body) == (500, b"until the end")
        client.close()
        server.close()

    _run(main())


def test_a_connection_closed_while_idle_is_replaced_once() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await _read_request(reader)
        # Keep-alive announced, then the connection is closed while idle.
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()

    async def main() -> None:
        server, port = await _serve(handler)
        client = Client(timeout=5, connect_timeout=5)
        for _ in range(3):
            answer = await client.send("127.0.0.1", port, request_bytes("/", "h", {}, b""))
            assert answer.status == 200
            await asyncio.sleep(0.2)
        client.close()
        server.close()

    _run(main())
    assert connections == 3


def test_timeout_refused_and_garbage_raise() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(10)

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        await writer.drain()

    async def main() -> None:
        slow, slow_port = await _serve(silent)
        bad, bad_port = await _serve(garbage)
        client = Client(timeout=0.3, connect_timeout=2)
        with pytest.raises(HTTPError, match="timed out"):
            await client.send("127.0.0.1", slow_port, request_bytes("/", "h", {}, b""))
        with pytest.raises(HTTPError, match="status line"):
            await client.send("127.0.0.1", bad_port, request_bytes("/", "h", {}, b""))
        closed, closed_port = await _serve(silent)
        closed.close()
        await closed.wait_closed()
        with pytest.raises(HTTPError, match="cannot connect"):
            await client.send("127.0.0.1", closed_port, request_bytes("/", "h", {}, b""))
        client.close()
        slow.close()
        bad.close()

    _run(main())
