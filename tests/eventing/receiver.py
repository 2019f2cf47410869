"""A CloudEvents receiver for the eventing tests: a stdlib HTTP server on loopback, in a
thread, that records every request and answers by path:

- ``/fail...``: 500 with body ``boom``;
- ``/reject...``: 400;
- ``/reply...``: 200 with a reply event (type ``com.test.answer``) in binary mode;
- ``/echo...``: 200 with a reply of the event's own type (a reply loop);
- anything else: 200.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def ce(self, name: str) -> str | None:
        return self.headers.get(f"ce-{name}")


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def on(self, prefix: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    def wait_for(self, prefix: str, count: int, timeout: float = 60.0) -> list[Received]:
        """Poll until ``count`` requests reached ``prefix`` (generous: loaded machines)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.on(prefix)
            if len(got) >= count:
                return got
            time.sleep(0.02)
        raise AssertionError(f"{prefix}: {len(self.on(prefix))} of {count} requests arrived")


def start_receiver() -> Receiver:
    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            received = Received(self.path, headers, body, time.time())
            with holder[0].lock:
                holder[0].requests.append(received)
            if self.path.startswith("/fail"):
                self._answer(500, b"boom", {})
            elif self.path.startswith("/reject"):
                self._answer(400, b"no", {})
            elif self.path.startswith(("/reply", "/echo")):
                echo = self.path.startswith("/echo")
                reply = {
                    "ce-specversion": "1.0",
                    "ce-id": f"reply-{headers.get('ce-id', '')}",
                    "ce-source": "/receiver",
                    "ce-type": headers.get("ce-type", "") if echo else "com.test.answer",
                    "Content-Type": "text/plain",
                }
                self._answer(200, b"answer", reply)
            else:
                self._answer(200, b"", {})

        def _answer(self, code: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(code)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(server)
    holder.append(receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver
