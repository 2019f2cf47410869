"""A real Pushgateway and a real Prometheus scraping it (with the example alert rules)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ALERT_RULES = ROOT / "examples" / "prometheus" / "harness-alerts.yaml"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/-/ready", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert process.poll() is None, f"{what} exited: {log.read_text()[-2000:]}"
        assert time.monotonic() < deadline, f"{what} did not become ready in 60 s"
        time.sleep(0.05)


@contextmanager
def _process(args: list[str], url: str, folder: Path, what: str) -> Iterator[str]:
    log_path = folder / f"{what}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        try:
            _wait_ready(url, process, log_path, what)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def pushgateway(folder: Path) -> Iterator[str]:
    """A Pushgateway on a free loopback port, persisting in ``folder``; yields its URL."""
    binary = shutil.which("prometheus-pushgateway") or "/usr/bin/prometheus-pushgateway"
    if not Path(binary).exists():
        pytest.skip("prometheus-pushgateway is not installed (.ci/run installs it)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # Debian's default persistence file is shared (/var/lib/prometheus): keep ours here.
    args = [
        binary,
        f"--web.listen-address=127.0.0.1:{port}",
        f"--persistence.file={folder / 'pushgateway.data'}",
        "--log.level=warn",
    ]
    with _process(args, url, folder, "pushgateway") as ready:
        yield ready


@contextmanager
def prometheus(target: str, folder: Path, rules: Path | None = ALERT_RULES) -> Iterator[str]:
    """A Prometheus scraping ``target`` (honor_labels) every second, evaluating ``rules``."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (.ci/run installs Debian's prometheus)")
    config: dict[str, Any] = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "pushgateway",
                "honor_labels": True,
                "static_configs": [{"targets": [target]}],
            }
        ],
    }
    if rules is not None:
        config["rule_files"] = [str(rules)]
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [
        binary,
        f"--config.file={folder / 'prometheus.yml'}",
        f"--storage.tsdb.path={folder / 'prom-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    with _process(args, url, folder, "prometheus") as ready:
        yield ready


def query(url: str, promql: str) -> list[dict[str, Any]]:
    body = httpx.get(url + "/api/v1/query", params={"query": promql}, timeout=5).json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def wait_query(url: str, promql: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Poll until ``promql`` returns at least one sample."""
    deadline = time.monotonic() + timeout
    while True:
        result = query(url, promql)
        if result:
            return result
        assert time.monotonic() < deadline, f"no result for {promql} within {timeout:g}s"
        time.sleep(0.2)


def firing_alerts(url: str) -> list[dict[str, Any]]:
    body = httpx.get(url + "/api/v1/alerts", timeout=5).json()
    return [a for a in body["data"]["alerts"] if a["state"] == "firing"]
