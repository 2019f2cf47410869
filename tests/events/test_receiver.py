"""The receiver mode's pieces (pure) and the sample app in receiver mode as a process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from multidict import CIMultiDict

from harness.events import receiver
from harness.events.cloudevent import Encoder, EventShape
from harness.events.receiver import EventLog, parse_delivery, read_attributes, rfc3339_ns
from harness.local.eventing.cloudevent import from_http


def test_the_sdk_events_are_valid_for_the_broker_ingress_in_both_modes() -> None:
    for mode in ("binary", "structured"):
        raw, body = Encoder(EventShape(mode=mode), "abcd1234").encode("abcd1234.p-1.7", 42)
        headers = CIMultiDict(raw)  # HTTP headers are case-insensitive, as on the wire
        event = from_http(headers, body)  # the emulator's broker ingress parser
        assert event.id == "abcd1234.p-1.7"
        assert event.attributes["harnessrun"] == "abcd1234"
        assert event.attributes["harnesssendtime"] == "42"
        assert read_attributes(headers, body) is not None


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1970-01-01T00:00:01.000000001Z", 1_000_000_001),
        ("1970-01-01T00:00:01.5Z", 1_500_000_000),
        ("1970-01-01T01:00:00+01:00", 0),
        ("1970-01-01T00:00:00.1234567891234Z", 123_456_789),
        ("not a time", 0),
        ("", 0),
    ],
)
def test_rfc3339_nanoseconds(text: str, ns: int) -> None:
    assert rfc3339_ns(text) == ns


def _binary(event_id: str, run: str = "run1", **extra: str) -> dict[str, str]:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-source": "s",
        "ce-type": "t",
        "ce-harnessrun": run,
        "ce-harnesssendtime": "1000",
    }
    headers.update({f"ce-{k}": v for k, v in extra.items()})
    return headers


def test_records_pages_and_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    log = EventLog("r-v1", "pod-1")
    assert not log.record({"Content-Type": "text/plain"}, b"hi", 200, 1, 2)
    assert log.record(
        {**_binary("e1", knativeerrordest="http://x"), "Knative-Harness-Delivery-Attempt": "3"},
        b"",
        500,
        2_000,
        7_000,
    )
    foreign = {k: v for k, v in _binary("f").items() if k != "ce-harnessrun"}
    assert log.record(foreign, b"", 200, 1, 1)
    (row,) = log.report("run1")["records"]
    got = parse_delivery(row)
    assert (got.event_id, got.attempt, got.status, got.dead_letter) == ("e1", 3, 500, True)
    assert (got.sent_ns, got.processing_us, got.revision) == (1000, 5, "r-v1")
    assert log.foreign == 1
    for i in range(5):
        log.record(_binary(f"e{i + 2}"), b"", 200, 1, 1)
    page = log.report("run1", after=2, page=2)
    assert (page["total"], page["next"], len(page["records"])) == (6, 4, 2)
    # Bounds: records beyond MAX_RECORDS are counted, runs beyond MAX_RUNS forgotten.
    monkeypatch.setattr(receiver, "MAX_RECORDS", 8)
    monkeypatch.setattr(receiver, "MAX_RUNS", 2)
    for i in range(4):
        log.record(_binary(f"g{i}", run="run2"), b"", 200, 1, 1)
    assert log.size == 8 and log.overflow == 2
    log.record(_binary("h", run="run3"), b"", 200, 1, 1)
    assert log.report("run1")["total"] == 0  # the oldest run went first


def test_forwarded_batches_are_checked() -> None:
    log = EventLog("collector")
    row = ["r-v2", "e1", 1, 200, 5, 1, 2, 3, 0]
    assert log.accept_forwarded(json.dumps({"run": "run1", "records": [row]}).encode())
    assert log.report("run1")["records"] == [row]
    for bad in (b"[]", b"{}", json.dumps({"run": "run1", "records": [["x"]]}).encode()):
        assert not log.accept_forwarded(bad)
    assert not log.accept_forwarded(
        json.dumps({"run": "run1", "records": [["r", "e", -1, 200, 0, 0, 0, 0, 0]]}).encode()
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.local.app", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, **env},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/", timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("the sample app did not start")


@pytest.mark.slow  # starts processes
def test_app_receiver_forwards_to_a_dedicated_receiver() -> None:
    collector, collector_url = _start(
        {"EVENTS_RECEIVER": "true", "K_REVISION": "events-receiver-1"}
    )
    consumer, consumer_url = _start(
        {
            "EVENTS_RECEIVER": "true",
            "K_REVISION": "consumer-v1",
            "EVENTS_REPORT_TO": collector_url,
            "SIM_LATENCY_MS": "0",
        }
    )
    try:
        for i in range(30):
            headers, body = Encoder(EventShape(), "run1").encode(f"run1.p-0.{i}", time.time_ns())
            assert httpx.post(consumer_url + "/", headers=headers, content=body).status_code == 200
        assert httpx.post(consumer_url + "/", content=b"x").status_code == 400
        own = httpx.get(consumer_url + "/harness/events", params={"run": "run1"}).json()
        assert own["total"] == 30 and own["revision"] == "consumer-v1"
        deadline = time.monotonic() + 60
        total = 0
        while time.monotonic() < deadline and total < 30:
            page = httpx.get(collector_url + "/harness/events", params={"run": "run1"}).json()
            total = page["total"]
            time.sleep(0.1)
        assert total == 30  # each record forwarded once
        rows = [parse_delivery(r) for r in page["records"]]
        assert {r.revision for r in rows} == {"consumer-v1"}
        assert len({r.event_id for r in rows}) == 30
        bad = httpx.get(collector_url + "/harness/events", params={"after": "x"})
        assert bad.status_code == 400
    finally:
        for proc in (consumer, collector):
            proc.terminate()
            proc.wait(10)


@pytest.mark.slow  # starts processes
def test_bad_receiver_knobs_exit_2() -> None:
    for env in ({"EVENTS_RECEIVER": "maybe"}, {"EVENTS_REPORT_TO": "ftp://x"}):
        done = subprocess.run(
            [sys.executable, "-m", "harness.local.app", "--port", str(_free_port())],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1 and "EVENTS_" in done.stderr
