"""The accounting rules of `harness events` (pure: no process)."""

from __future__ import annotations

import pytest

from analysis import Histogram
from harness.events.accounting import account, revision_events
from harness.events.receiver import Delivery
from harness.load.stats import ArmStats

MS = 1_000_000


def d(
    event_id: str,
    *,
    revision: str = "r-v1",
    status: int = 200,
    attempt: int = 1,
    sent_ms: int = 1000,
    received_ms: int = 1010,
    dead_letter: bool = False,
    processing_us: int = 5000,
) -> Delivery:
    return Delivery(
        revision=revision,
        event_id=event_id,
        attempt=attempt,
        status=status,
        received_ns=received_ms * MS,
        sent_ns=sent_ms * MS,
        arrival_ns=(sent_ms + 1) * MS,
        processing_us=processing_us,
        dead_letter=dead_letter,
    )


def publish(sent: int, failed_4xx: int = 0, failed_5xx: int = 0) -> ArmStats:
    return ArmStats(
        requests=sent,
        errors_4xx=failed_4xx,
        errors_5xx=failed_5xx,
        latency=Histogram.from_samples([2.0] * sent),
    )


def test_every_rule_on_one_run() -> None:
    accepted = {f"run.a.{i}" for i in range(1, 8)}
    rows = [
        d("run.a.1"),
        d("run.a.2", revision="r-v2", received_ms=1030),
        d("run.a.2", revision="r-v1", received_ms=1040, attempt=2),  # duplicate, later
        d("run.a.3", status=500),  # failed first ...
        d("run.a.3", attempt=2, received_ms=1100),  # ... then delivered by the retry
        d("run.a.4", status=500),
        d("run.a.4", dead_letter=True, revision="dls-v1"),  # dead-lettered
        d("run.a.5", status=503),  # never delivered, no dead letter: lost
        d("run.x.9"),  # never accepted: unexpected
        d("run.x.9"),  # counted once
        # run.a.6, run.a.7: never arrived: lost
    ]
    s = account(publish(9, failed_4xx=1, failed_5xx=1), accepted, rows, duration_s=2, drain_s=5)
    assert (s.sent, s.accepted, s.publish_failures) == (9, 7, 2)
    assert s.delivered == 3
    assert s.duplicated == 1
    assert s.dead_lettered == 1
    assert s.lost == 3  # a.5, a.6, a.7
    assert s.unexpected == 1
    assert s.delivered + s.dead_lettered + s.lost == s.accepted
    assert s.revisions == {"r-v1": 2, "r-v2": 1}
    assert s.errors == 2 + 3 + 1
    assert s.events_per_s == 4.5
    # Delivery latency of each event's first 2xx: 10, 30 and 100 ms.
    assert s.delivery_latency.count == 3
    assert s.delivery_latency.max == pytest.approx(100, rel=0.02)
    doc = s.to_json()
    for key in (
        "sent",
        "accepted",
        "delivered",
        "lost",
        "duplicated",
        "unexpected",
        "dead_lettered",
        "events_per_s",
        "publish_latency_ms",
        "delivery_latency_ms",
        "revisions",
    ):
        assert key in doc
    assert set(doc["delivery_latency_ms"]) == {"p50", "p90", "p99", "max"}
    assert doc["delivery"]["r-v1"]["attempts"] == 8  # every answer of r-v1, unexpected too


def test_a_dead_letter_of_an_event_delivered_later_is_not_counted() -> None:
    rows = [d("e.1", dead_letter=True), d("e.1", attempt=2)]
    s = account(publish(1), {"e.1"}, rows, duration_s=1, drain_s=0)
    assert (s.delivered, s.dead_lettered, s.lost) == (1, 0, 0)


def test_nothing_received_is_all_lost_and_latencies_are_empty() -> None:
    s = account(publish(3), {"e.1", "e.2", "e.3"}, [], duration_s=1, drain_s=1)
    assert (s.delivered, s.lost) == (0, 3)
    assert s.to_json()["delivery_latency_ms"] == {
        "p50": None,
        "p90": None,
        "p99": None,
        "max": None,
    }


def test_a_broker_that_refuses_is_a_publish_failure_not_a_loss() -> None:
    s = account(publish(5, failed_5xx=5), set(), [], duration_s=1, drain_s=1)
    assert (s.accepted, s.publish_failures, s.lost) == (0, 5, 0)
    assert s.publish_errors["5xx"] == 5


def test_per_revision_attempts_failures_retries_and_processing() -> None:
    rows = [
        d("e.1", processing_us=4000),
        d("e.2", status=500, processing_us=6000),
        d("e.2", attempt=2, revision="r-v2"),
        d("e.3", dead_letter=True, revision="sink"),
    ]
    per = revision_events(rows)
    assert set(per) == {"r-v1", "r-v2"}
    assert (per["r-v1"].attempts, per["r-v1"].failures, per["r-v1"].retries) == (2, 1, 0)
    assert (per["r-v2"].attempts, per["r-v2"].retries, per["r-v2"].delivered) == (1, 1, 1)
    snap = per["r-v1"].to_snapshot()
    assert (snap.requests, snap.errors) == (2, 1)
    assert snap.latency is not None
    assert snap.latency.max == pytest.approx(6.0, rel=0.02)


def test_the_text_summary_on_a_pipe_keeps_every_header(capsys: pytest.CaptureFixture[str]) -> None:
    """On a pipe (a CI log) rich gave the counts table 80 columns and cut its headers
    ('deliver…', 'duplica…', 'dead-le…')."""
    from harness.commands.events import _print_text
    from harness.events.run import EventsOutcome

    summary = account(ArmStats(), set(), [], duration_s=1.0, drain_s=0.0, run="ab12cd34")
    outcome = EventsOutcome(summary, ArmStats(), (), 0, False)
    _print_text(outcome, None)
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "sent" in line)
    for name in ("accepted", "delivered", "duplicated", "unexpected", "dead-lettered"):
        assert name in header, out
