"""PrometheusSource against the emulator's real Prometheus, in both metric schemas:
counter deltas equal what the client saw, exactly."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.errors import Unavailable
from harness.local.launcher import Emulator
from harness.local.state import EmulatorInfo
from harness.metrics.profiles import get_profile
from harness.metrics.source import PrometheusSource, RevisionCounters


@pytest.fixture(params=["legacy", "otel"])
def schema_emulator(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, EmulatorInfo]]:
    info = Emulator.start(tmp_path / "emu", demo=True, metrics_schema=request.param)
    try:
        if info.prometheus is None:
            pytest.skip("prometheus is not installed here (CI installs it)")
        yield request.param, info
    finally:
        Emulator.stop(tmp_path / "emu")


def _poll(source: PrometheusSource, revision: str, want: int) -> RevisionCounters:
    deadline = time.monotonic() + 60
    while True:
        counters = source.read("default", "hello", revision)
        if counters.requests >= want or time.monotonic() > deadline:
            return counters
        time.sleep(0.3)


def test_counter_deltas_match_the_requests_sent(schema_emulator: tuple[str, EmulatorInfo]) -> None:
    schema, info = schema_emulator
    source = PrometheusSource(info.prometheus or "", get_profile(schema))
    source.check()
    host = "v1-hello.default.example.com"
    with httpx.Client(base_url=info.ingress, headers={"Host": host}) as client:
        # The revision's series must exist in Prometheus before the zero point: a series
        # first seen later counts in full.
        client.get("/").raise_for_status()
        deadline = time.monotonic() + 60
        while not source.has_series("default", "hello", "hello-v1"):
            assert time.monotonic() < deadline, "Prometheus never scraped hello-v1"
            time.sleep(0.2)
        zero = source.read("default", "hello", "hello-v1")
        assert zero.requests == 0
        for _ in range(150):
            client.get("/").raise_for_status()
    counters = _poll(source, "hello-v1", 150)
    assert counters.requests == 150
    assert counters.errors == 0
    assert counters.latency is not None
    assert counters.latency.count == 150
    # A revision that got no request in the window has zero counts, not missing data.
    other = source.read("default", "hello", "hello-v2")
    assert other.requests == 0


def test_unreachable_prometheus_is_unavailable() -> None:
    source = PrometheusSource("http://127.0.0.1:9", get_profile("legacy"), timeout=1)
    with pytest.raises(Unavailable, match="did not answer"):
        source.check()
