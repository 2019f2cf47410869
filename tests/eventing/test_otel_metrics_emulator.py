"""With `--metrics-schema otel` the broker ingress and filter report Knative >= 1.19's
`kn_eventing_dispatch_duration_seconds` with the OTel attribute names, scraped by the
emulator's Prometheus."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.local.launcher import Emulator, alive, descendants
from harness.local.state import EmulatorInfo

pytestmark = pytest.mark.slow  # starts an emulator

INGRESS_HOST = "broker-ingress.knative-eventing.svc.cluster.local"


@pytest.fixture
def otel_emulator(tmp_path: Path) -> Iterator[EmulatorInfo]:
    state = tmp_path / "emulator"
    info = Emulator.start(state, demo=True, metrics_schema="otel")
    try:
        yield info
    finally:
        spawned = [info.pid, *descendants(info.pid)]
        Emulator.stop(state)
        assert not [pid for pid in spawned if alive(pid)]


def test_otel_dispatch_duration_in_prometheus(otel_emulator: EmulatorInfo) -> None:
    if otel_emulator.prometheus is None:
        pytest.skip("prometheus is not installed: the emulator runs without it")
    headers = {
        "Host": INGRESS_HOST,
        "ce-specversion": "1.0",
        "ce-id": "otel-1",
        "ce-source": "/tests",
        "ce-type": "com.test.otel",
    }
    answer = httpx.post(
        f"{otel_emulator.ingress}/default/default", headers=headers, content=b"x", timeout=60
    )
    assert answer.status_code == 202
    query = 'kn_eventing_dispatch_duration_seconds_count{job="knative-eventing"}'
    deadline = time.monotonic() + 60
    scopes: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline and len(scopes) < 2:
        found = httpx.get(
            f"{otel_emulator.prometheus}/api/v1/query", params={"query": query}, timeout=60
        )
        scopes = {r["metric"]["otel_scope_name"]: r for r in found.json()["data"]["result"]}
        time.sleep(0.5)
    ingress = scopes["knative.dev/pkg/broker/ingress"]["metric"]
    assert ingress["kn_broker_name"] == "default"
    assert ingress["kn_broker_namespace"] == "default"
    assert ingress["cloudevents_type"] == "com.test.otel"
    assert ingress["http_response_status_code"] == "202"
    delivered = scopes["knative.dev/pkg/broker/filter"]["metric"]
    assert delivered["messaging_destination_name"] == "trigger:hello.default"
    assert delivered["http_response_status_code"] == "200"
