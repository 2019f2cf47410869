"""Autoscaler series and scale-to-zero cold starts, read from a real Prometheus."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from harness.errors import Aborted, Unavailable
from harness.load.targets import Arm
from harness.perf.cold_start import SCALE_TO_ZERO, scale_to_zero_cold_starts
from harness.perf.server_metrics import actual_pods, autoscaler_series
from tests.perf.fakes import MetricsEndpoint, prometheus_scraping, wait_for_value

LEGACY = (
    'namespace_name="default",service_name="hello",configuration_name="hello",revision_name="{}"'
)
OTEL = 'k8s_namespace_name="default",kn_service_name="hello",kn_revision_name="{}"'


def _poll_series(
    url: str, revision: str, start: float, done: Callable[[dict[str, Any]], bool]
) -> tuple[dict[str, Any], float]:
    deadline = time.monotonic() + 60
    while True:
        end = time.time()
        result = autoscaler_series(url, "default", revision, start, end)
        if (result["available"] and done(result)) or time.monotonic() > deadline:
            return result, end
        time.sleep(0.2)


@pytest.fixture(scope="module")
def autoscaler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MetricsEndpoint, str]]:
    endpoint = MetricsEndpoint()
    try:
        with prometheus_scraping(endpoint.address, tmp_path_factory.mktemp("prometheus")) as url:
            yield endpoint, url
    finally:
        endpoint.close()


def test_legacy_gauges_are_sampled_over_the_window(
    autoscaler: tuple[MetricsEndpoint, str],
) -> None:
    endpoint, url = autoscaler
    labels = LEGACY.format("hello-v1")
    start = time.time()
    endpoint.set(f"autoscaler_desired_pods{{{labels}}}", 3)
    endpoint.set(f"autoscaler_actual_pods{{{labels}}}", 2)
    endpoint.set(f"autoscaler_panic_mode{{{labels}}}", 1)
    wait_for_value(url, 'autoscaler_panic_mode{revision_name="hello-v1"}', 1)
    endpoint.set(f"autoscaler_panic_mode{{{labels}}}", 0)
    wait_for_value(url, 'autoscaler_panic_mode{revision_name="hello-v1"}', 0)
    # Prometheus answers a range query from what it has ingested; on a loaded machine the
    # last scrape can land a moment after the instant query saw it, so poll.
    result, end = _poll_series(url, "hello-v1", start, lambda r: r["summary"]["panic_share"] < 1)

    assert result["available"] and result["schema"] == "legacy"
    summary = result["summary"]
    assert summary["max_desired_pods"] == 3 and summary["max_actual_pods"] == 2
    assert 0 < summary["panic_share"] < 1
    times = [t for t, _ in result["series"]["actual_pods"]]
    assert times == sorted(times) and times[0] >= 0 and times[-1] <= end - start + 1
    assert actual_pods(url, "default", "hello-v1") == 2


def test_otel_gauges_are_found_when_legacy_ones_are_absent(
    autoscaler: tuple[MetricsEndpoint, str],
) -> None:
    endpoint, url = autoscaler
    labels = OTEL.format("hello-v2")
    start = time.time()
    endpoint.set(f"kn_revision_pods_desired{{{labels}}}", 5)
    endpoint.set(f"kn_revision_pods_count{{{labels}}}", 4)
    endpoint.set(f"kn_revision_panic_mode{{{labels}}}", 0)
    wait_for_value(url, 'kn_revision_pods_count{kn_revision_name="hello-v2"}', 4)

    result, _ = _poll_series(url, "hello-v2", start, lambda r: r["schema"] == "otel")

    assert result["available"] and result["schema"] == "otel"
    assert result["summary"]["max_desired_pods"] == 5
    assert result["summary"]["panic_share"] == 0
    assert actual_pods(url, "default", "hello-v2") == 4


def test_a_revision_without_autoscaler_series_is_reported_not_available(
    autoscaler: tuple[MetricsEndpoint, str],
) -> None:
    _, url = autoscaler
    result = autoscaler_series(url, "default", "absent", time.time() - 5, time.time())
    assert result == {"available": False, "reason": result["reason"]}
    assert "autoscaler_desired_pods" in result["reason"] and "absent" in result["reason"]
    assert actual_pods(url, "default", "absent") is None


def test_an_unreachable_prometheus_is_unavailable() -> None:
    with pytest.raises(Unavailable, match="did not answer"):
        autoscaler_series("http://127.0.0.1:9", "default", "x", time.time() - 5, time.time())


@pytest.fixture
def slow_app() -> Iterator[str]:
    """An app answering every request after 300 ms, like a pod that starts on demand."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            time.sleep(0.3)
            self.send_response(200)
            self.send_header("Content-Length", "3")
            self.end_headers()
            self.wfile.write(b"hi\n")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_scale_to_zero_cold_starts_wait_for_zero_pods_then_time_the_first_request(
    autoscaler: tuple[MetricsEndpoint, str], slow_app: str
) -> None:
    endpoint, url = autoscaler
    labels = LEGACY.format("sleepy")
    endpoint.set(f"autoscaler_actual_pods{{{labels}}}", 1)
    wait_for_value(url, 'autoscaler_actual_pods{revision_name="sleepy"}', 1)
    # The revision scales to zero a little later; the cold start must wait for it.
    timer = threading.Timer(1.5, endpoint.set, (f"autoscaler_actual_pods{{{labels}}}", 0))
    timer.start()
    try:
        # the fake endpoint never shows the woken pod: wait for it only briefly
        result = scale_to_zero_cold_starts(
            Arm("hello", slow_app), url, "default", "sleepy", 2, series_grace_s=2.0
        )
    finally:
        timer.cancel()
    assert result.method == SCALE_TO_ZERO and result.requests == 2 and result.errors == 0
    assert len(result.latencies_ms) == 2 and min(result.latencies_ms) >= 300
    assert result.waited_s[0] >= 1.0


def test_a_revision_that_never_reaches_zero_aborts(
    autoscaler: tuple[MetricsEndpoint, str], slow_app: str
) -> None:
    endpoint, url = autoscaler
    endpoint.set(f"autoscaler_actual_pods{{{LEGACY.format('busy')}}}", 2)
    wait_for_value(url, 'autoscaler_actual_pods{revision_name="busy"}', 2)
    with pytest.raises(Aborted, match="still has 2 pod"):
        scale_to_zero_cold_starts(
            Arm("hello", slow_app), url, "default", "busy", 1, zero_timeout_s=1.0
        )


def test_cold_starts_need_a_pod_count_to_tell_cold_from_warm(
    autoscaler: tuple[MetricsEndpoint, str], slow_app: str, tmp_path: Path
) -> None:
    _, url = autoscaler
    with pytest.raises(Unavailable, match="no pod-count series"):
        scale_to_zero_cold_starts(
            Arm("hello", slow_app), url, "default", "unknown", 1, series_grace_s=0.5
        )
