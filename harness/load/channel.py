"""The control channel between a `LoadDriver` and its Locust process: JSON lines on a socket.

One side asks (``{"op": ...}``), the other answers with one JSON object. Plain sockets
on the driver's side; in the Locust process the same code runs on gevent's patched
sockets, so waiting for a message never blocks the users' greenlets.
"""

from __future__ import annotations

import json
import socket
from typing import Any

_MAX_LINE = 64 * 1024 * 1024  # a snapshot of many arms' histograms stays far below this


class ChannelClosed(Exception):
    """The other end closed the channel (or it broke)."""


class Channel:
    """Line-delimited JSON messages over a connected stream socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = bytearray()

    def send(self, message: dict[str, Any]) -> None:
        """Send one message. Raises `ChannelClosed` when the peer is gone."""
        data = json.dumps(message, separators=(",", ":"), allow_nan=False).encode() + b"\n"
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise ChannelClosed(str(exc)) from exc

    def receive(self) -> dict[str, Any]:
        """Block until one message arrives (the socket's timeout applies).

        Raises `ChannelClosed` at end of stream, ``TimeoutError`` when the socket times out.
        """
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                message = json.loads(line)
                if not isinstance(message, dict):
                    raise ChannelClosed("protocol error: a message is not a JSON object")
                return message
            if len(self._buffer) > _MAX_LINE:
                raise ChannelClosed("protocol error: message too long")
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError:
                raise
            except OSError as exc:
                raise ChannelClosed(str(exc)) from exc
            if not chunk:
                raise ChannelClosed("end of stream")
            self._buffer += chunk

    def settimeout(self, seconds: float | None) -> None:
        """Timeout for `receive` (None blocks)."""
        self._sock.settimeout(seconds)

    def close(self) -> None:
        """Close the socket; the peer sees end of stream."""
        self._sock.close()
