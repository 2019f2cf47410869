"""A throwaway nginx for the load benchmarks: loopback, free port, temp prefix, ``daemon off``.

It answers ``Hello`` to every request from memory (``return 200``), so the load generator,
not the server, is what a benchmark measures. The system nginx is never touched.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_CONFIG = """\
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "Hello\\n"; }}
    }}
}}
"""


def free_port() -> int:
    """A loopback port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def nginx() -> Iterator[tuple[str, int]]:
    """Run nginx for the duration of the block; yields its URL and process id."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    with tempfile.TemporaryDirectory(prefix="harness-bench-nginx-") as prefix:
        port = free_port()
        config = Path(prefix) / "nginx.conf"
        config.write_text(_CONFIG.format(prefix=prefix, port=port))
        process = subprocess.Popen(
            [binary, "-p", prefix, "-c", str(config), "-e", f"{prefix}/error.log"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        log = (Path(prefix) / "error.log").read_text(errors="replace")
                        raise RuntimeError(f"nginx did not start: {log.strip()}") from None
                    time.sleep(0.05)
            yield f"http://127.0.0.1:{port}/", process.pid
        finally:
            process.terminate()
            process.wait(timeout=10)
