"""The Prometheus launcher: generated config, a real Prometheus scraping revisions."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from pathlib import Path

import httpx
import pytest
import yaml

from harness.knative.traffic import TrafficTarget
from harness.local.dataplane import route_hosts
from harness.local.metrics import MetricsSchema
from harness.local.prometheus import (
    JOB_NAME,
    PrometheusServer,
    scrape_config,
    start_prometheus,
    targets_path,
)
from tests.local_dataplane.conftest import NAMESPACE, PlaneThread, start_plane

# What harness/metrics' profiles ask (legacy, and otel joined with target_info).
QUERIES = {
    "legacy": 'sum(revision_request_count{namespace_name="default",revision_name="hello-v1"})',
    "otel": "sum(http_server_request_duration_seconds_count * on(job, instance) group_left() "
    'target_info{k8s_namespace_name="default",kn_revision_name="hello-v1"})',
}


def test_scrape_config_scrapes_the_targets_file_every_second(tmp_path: Path) -> None:
    config = yaml.safe_load(scrape_config(tmp_path / "targets.json"))
    assert config["global"]["scrape_interval"] == "1s"
    (job,) = config["scrape_configs"]
    assert job["job_name"] == JOB_NAME
    assert job["file_sd_configs"] == [
        {"files": [str(tmp_path / "targets.json")], "refresh_interval": "1s"}
    ]


def test_without_a_binary_it_returns_none_and_says_so_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="harness.local.prometheus"):
        assert asyncio.run(start_prometheus(tmp_path)) is None
    assert [r.getMessage() for r in caplog.records] == [
        "prometheus is not installed: the emulator runs without server-side metrics "
        "(apt-get install prometheus adds them)"
    ]


def _query(url: str, promql: str) -> float | None:
    response = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=60)
    result = response.json()["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def _poll(url: str, promql: str, want: float, timeout: float = 60.0) -> float | None:
    deadline = time.monotonic() + timeout
    seen = _query(url, promql)
    while seen != want and time.monotonic() < deadline:
        time.sleep(0.1)
        seen = _query(url, promql)
    return seen


@pytest.mark.parametrize("schema", ["legacy", "otel"])
def test_prometheus_scrapes_a_revisions_series(tmp_path: Path, schema: MetricsSchema) -> None:
    if shutil.which("prometheus") is None:
        pytest.skip("no prometheus binary on PATH (apt-get install prometheus)")
    for plane in start_plane(tmp_path, schema):
        server = plane.call(start_prometheus(tmp_path))
        assert isinstance(server, PrometheusServer)
        try:
            _scrape_check(plane, server, schema)
        finally:
            plane.call(server.stop())
        assert server.pid is not None and not Path(f"/proc/{server.pid}/cmdline").exists()


def _scrape_check(plane: PlaneThread, server: PrometheusServer, schema: MetricsSchema) -> None:
    assert httpx.get(server.url + "/-/ready", timeout=60).status_code == 200
    plane.add("hello-v1", {"SIM_LATENCY_MS": "0"})  # added after Prometheus: file_sd picks it up
    plane.wait_ready("hello-v1")
    assert "127.0.0.1" in targets_path(plane.state_dir).read_text()
    plane.set_routes(
        route_hosts(
            NAMESPACE,
            "hello",
            [TrafficTarget(percent=100, revision_name="hello-v1")],
            domain="example.com",
        )
    )
    with httpx.Client(timeout=60) as client:
        for _ in range(7):
            response = client.get(plane.url + "/", headers={"Host": "hello.default.example.com"})
            assert response.status_code == 200
    assert _poll(server.url, QUERIES[schema], 7.0) == 7.0
