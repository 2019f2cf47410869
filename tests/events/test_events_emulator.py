"""`harness events` end to end on the emulator: the real CLI, Locust, the broker ingress,
the dispatcher, revision processes in receiver mode, all on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.store import SqliteStore
from tests.conftest import RunningEmulator
from tests.events.helpers import (
    broker,
    consumer,
    eventing_counter,
    harness,
    kubectl_apply,
    trigger,
    wait_service_ready,
)


def test_injected_loss_is_counted_exactly(emulator: RunningEmulator, tmp_path: Path) -> None:
    kubectl_apply(
        emulator,
        [
            broker("lossy"),
            consumer("sink", {"v1": {"SIM_LATENCY_MS": "2"}}, [("v1", 100)]),
            trigger(
                "sink",
                "lossy",
                "sink",
                annotations={"harness.knative.dev/drop-fraction": "0.1"},
            ),
        ],
    )
    wait_service_ready(emulator, "sink", "sink-v1")
    dropped_before = eventing_counter(emulator, "dropped_events", "sink")
    store = tmp_path / "h.sqlite"
    done = harness(
        emulator,
        "events",
        "lossy",
        # 300 events at 150/s: a count, not what a loaded machine sends in a few seconds
        # (with 10% dropped, none lost has probability 0.9^300).
        "--rate",
        "150",
        "--events",
        "300",
        "--duration",
        "60s",
        "--drain",
        "20s",
        "--format",
        "json",
        "--save",
        "--store",
        str(store),
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    dropped = eventing_counter(emulator, "dropped_events", "sink") - dropped_before
    assert result["sent"] == 300
    assert result["accepted"] == result["sent"]
    assert dropped > 0
    assert result["lost"] == dropped
    assert result["delivered"] + result["lost"] == result["accepted"]
    assert result["duplicated"] == 0
    assert result["unexpected"] == 0
    assert result["dead_lettered"] == 0
    assert result["revisions"] == {"sink-v1": result["delivered"]}
    for key in ("publish_latency_ms", "delivery_latency_ms"):
        assert set(result[key]) == {"p50", "p90", "p99", "max"}
        assert 0 < result[key]["p50"] <= result[key]["max"]
    assert result["events_per_s"] > 0
    # Saved as a perf run of the Broker, which `harness gate lossy` reads.
    with SqliteStore(store) as history:
        (run,) = history.list_runs("default", "lossy", "perf")
        saved = history.load_perf_results(run.id)["events"]
    assert run.id == result["saved_run"]
    assert saved.requests == result["sent"]
    assert saved.errors == result["lost"]


def test_retries_and_dead_letters_are_counted(emulator: RunningEmulator) -> None:
    # Every delivery fails: 1 + 2 retries per event, then the dead letter sink (a
    # receiver too) gets it with Knative's error extensions.
    kubectl_apply(
        emulator,
        [
            broker("dl"),
            consumer(
                "failing", {"v1": {"SIM_ERROR_RATE": "1", "SIM_LATENCY_MS": "1"}}, [("v1", 100)]
            ),
            consumer("dls", {"v1": {"SIM_LATENCY_MS": "1"}}, [("v1", 100)]),
            trigger(
                "failing",
                "dl",
                "failing",
                delivery={
                    "retry": 2,
                    "backoffPolicy": "linear",
                    "backoffDelay": "PT0.01S",
                    "deadLetterSink": {
                        "ref": {
                            "apiVersion": "serving.knative.dev/v1",
                            "kind": "Service",
                            "name": "dls",
                        }
                    },
                },
            ),
        ],
    )
    wait_service_ready(emulator, "failing", "failing-v1")
    wait_service_ready(emulator, "dls", "dls-v1")
    done = harness(
        emulator,
        "events",
        "dl",
        "--users",
        "2",
        "--events",
        "60",
        "--duration",
        "20s",
        "--drain",
        "20s",
        "--mode",
        "structured",
        "--format",
        "json",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["sent"] == result["accepted"] == 60
    assert result["dead_lettered"] == 60
    assert result["delivered"] == 0
    assert result["lost"] == 0
    failing = result["delivery"]["failing-v1"]
    assert failing["attempts"] == 180
    assert failing["failures"] == 180
    assert failing["retries"] == 120


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Bad_Broker"], "broker"),
        (["nosuch"], "not found"),
        (["default", "--mode", "json"], "--mode"),
        (["default", "--type", "has space"], "--type"),
        (["default", "--drain", "soon"], "--drain"),
        (["default", "--rate", "-1"], "--rate"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    emulator: RunningEmulator, args: list[str], message: str
) -> None:
    done = harness(emulator, "events", *args, "--duration", "1s")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr


def test_a_subscriber_without_receiver_mode_sends_nothing(emulator: RunningEmulator) -> None:
    # The demo's Trigger `hello` delivers to `hello`, which is not in receiver mode: the
    # preflight's report request fails, so not one event is sent.
    before = eventing_counter(emulator, "matched_events", "hello")
    done = harness(emulator, "events", "default", "--duration", "2s")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "receiver mode" in done.stderr
    assert eventing_counter(emulator, "matched_events", "hello") == before
