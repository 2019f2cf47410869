"""A metrics endpoint a test can change, and a real Prometheus scraping it every second.

The endpoint stands in for what Knative's autoscaler exports (gauges per revision, in
either metrics schema); Prometheus is the real binary, so queries, ``query_range`` and
staleness behave as on a cluster.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml


class MetricsEndpoint:
    """Serves ``/metrics`` in the Prometheus text format from a dict a test may change."""

    def __init__(self) -> None:
        self.lines: dict[str, float] = {}
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with endpoint._lock:
                    body = "".join(f"{key} {value}\n" for key, value in endpoint.lines.items())
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def set(self, series: str, value: float) -> None:
        """Expose ``series`` (name with labels) with ``value`` from the next scrape on."""
        with self._lock:
            self.lines[series] = value

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def prometheus_scraping(target: str, folder: Path) -> Iterator[str]:
    """A real Prometheus scraping ``target`` every second; yields its URL."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (.ci/run installs Debian's prometheus)")
    config = folder / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                "scrape_configs": [{"job_name": "fake", "static_configs": [{"targets": [target]}]}],
            }
        )
    )
    port = _free_port()
    log = (folder / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _ready(url):
            assert process.poll() is None, (folder / "prometheus.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "prometheus did not become ready in 60 s"
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/-/ready", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for_value(url: str, query: str, value: float, timeout: float = 60.0) -> None:
    """Poll Prometheus until ``query`` returns ``value`` (fails the test after ``timeout``)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        result = httpx.get(url + "/api/v1/query", params={"query": query}, timeout=5).json()
        samples = result["data"]["result"]
        last = samples
        if samples and float(samples[0]["value"][1]) == value:
            return
        time.sleep(0.2)
    raise AssertionError(f"{query} never became {value} (last answer {last})")
