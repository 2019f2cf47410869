"""Delivery accounting of one `harness events` run: pure, from what was sent and received.

Inputs: the sender arm's statistics (every POST to the Broker, its answer and latency),
the ids the Broker accepted (2xx), and the deliveries the receivers recorded for the
run. The rules (docs/eventing.md, "Accounting"):

* **sent**: events POSTed; **accepted**: answered 2xx by the Broker. A 4xx, 5xx, no
  answer or a timeout is a *publish failure*, never a loss.
* **delivered**: accepted events a subscriber answered 2xx at least once (dead letter
  sink deliveries aside); **duplicated**: 2xx deliveries beyond the first of an event.
* **dead_lettered**: accepted events never delivered that a dead letter sink received.
* **lost**: accepted events neither delivered nor dead-lettered. The caller computes the
  accounting only after its drain period, so events still in flight are not lost yet.
* **unexpected**: events of the run that were received but never accepted (or never
  sent). Events without the run's mark are other traffic and not counted.
* **publish latency**: the Broker's answer time as the sender measured it (open model:
  from the due time); **delivery latency**: receive time at the subscriber's first 2xx
  minus the event's send time (the sender's and receiver's clocks: one machine here,
  NTP-synchronised nodes on a cluster).
* **revisions**: delivered events by the revision that first delivered them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from typing import Any

from analysis import ArmSnapshot, Histogram
from harness.events.receiver import Delivery
from harness.load.stats import ArmStats

QUANTILES = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))


@dataclass(frozen=True)
class RevisionEvents:
    """What one revision did with the run's events: attempts it answered, how, how fast."""

    attempts: int = 0
    failures: int = 0
    retries: int = 0
    delivered: int = 0
    processing: Histogram = field(default_factory=Histogram.empty)

    def to_snapshot(self) -> ArmSnapshot:
        """The judge's view: every delivery attempt, its failures (non-2xx), processing ms."""
        return ArmSnapshot(requests=self.attempts, errors=self.failures, latency=self.processing)


@dataclass(frozen=True)
class EventsSummary:
    """The figures of one run (see the module docstring for each rule)."""

    sent: int
    accepted: int
    delivered: int
    lost: int
    duplicated: int
    unexpected: int
    dead_lettered: int
    publish_failures: int
    duration_s: float
    drain_s: float
    publish_latency: Histogram
    delivery_latency: Histogram
    revisions: Mapping[str, int]
    by_revision: Mapping[str, RevisionEvents]
    publish_errors: Mapping[str, int]
    run: str = ""
    interrupted: bool = False

    @property
    def events_per_s(self) -> float:
        """Events sent per second of the sending period."""
        return self.sent / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def errors(self) -> int:
        """Events that did not make it: publish failures, lost and dead-lettered."""
        return self.publish_failures + self.lost + self.dead_lettered

    def to_json(self) -> dict[str, Any]:
        """The document of ``--format json`` (the issue's keys, then the details)."""
        return {
            "sent": self.sent,
            "accepted": self.accepted,
            "delivered": self.delivered,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "unexpected": self.unexpected,
            "dead_lettered": self.dead_lettered,
            "events_per_s": round(self.events_per_s, 2),
            "publish_latency_ms": quantiles(self.publish_latency),
            "delivery_latency_ms": quantiles(self.delivery_latency),
            "revisions": dict(self.revisions),
            "publish_failures": self.publish_failures,
            "publish_errors": dict(self.publish_errors),
            "delivery": {
                name: {
                    "attempts": r.attempts,
                    "failures": r.failures,
                    "retries": r.retries,
                    "delivered": r.delivered,
                    "processing_ms": quantiles(r.processing),
                }
                for name, r in sorted(self.by_revision.items())
            },
            "duration_s": round(self.duration_s, 3),
            "drain_s": self.drain_s,
            "run": self.run,
            "interrupted": self.interrupted,
        }


def quantiles(histogram: Histogram) -> dict[str, float | None]:
    """p50, p90, p99 and max in ms (None for an empty histogram)."""
    out: dict[str, float | None] = {
        name: _ms(histogram.quantile(q)) if histogram.count else None for name, q in QUANTILES
    }
    out["max"] = _ms(histogram.max) if histogram.count else None
    return out


def _ms(value: float | None) -> float | None:
    if value is None or math.isnan(value):
        return None
    return round(value, 3)


def revision_events(deliveries: Iterable[Delivery]) -> dict[str, RevisionEvents]:
    """Per revision: attempts answered, non-2xx answers, retries (attempt > 1), distinct
    events answered 2xx, processing time (ms). Dead letter sink deliveries are left out."""
    attempts: dict[str, int] = {}
    failures: dict[str, int] = {}
    retries: dict[str, int] = {}
    ok: dict[str, set[str]] = {}
    processing: dict[str, list[float]] = {}
    for d in deliveries:
        if d.dead_letter:
            continue
        rev = d.revision
        attempts[rev] = attempts.get(rev, 0) + 1
        if not 200 <= d.status < 300:
            failures[rev] = failures.get(rev, 0) + 1
        else:
            ok.setdefault(rev, set()).add(d.event_id)
        if d.attempt > 1:
            retries[rev] = retries.get(rev, 0) + 1
        processing.setdefault(rev, []).append(d.processing_us / 1000.0)
    return {
        rev: RevisionEvents(
            attempts=count,
            failures=failures.get(rev, 0),
            retries=retries.get(rev, 0),
            delivered=len(ok.get(rev, ())),
            processing=Histogram.from_samples(processing[rev]),
        )
        for rev, count in attempts.items()
    }


def account(
    publish: ArmStats,
    accepted: Set[str],
    deliveries: Iterable[Delivery],
    *,
    duration_s: float,
    drain_s: float,
    run: str = "",
    interrupted: bool = False,
) -> EventsSummary:
    """The run's figures from what was sent, accepted and received (after the drain)."""
    rows = list(deliveries)
    first_ok: dict[str, Delivery] = {}
    duplicated = 0
    dead: set[str] = set()
    unexpected: set[str] = set()
    for d in rows:
        if d.event_id not in accepted:
            unexpected.add(d.event_id)
            continue
        if not 200 <= d.status < 300:
            continue
        if d.dead_letter:
            dead.add(d.event_id)
            continue
        earlier = first_ok.get(d.event_id)
        if earlier is None:
            first_ok[d.event_id] = d
        else:
            duplicated += 1
            if (d.received_ns, d.attempt) < (earlier.received_ns, earlier.attempt):
                first_ok[d.event_id] = d
    dead -= first_ok.keys()
    delivered = len(first_ok)
    latencies = [
        (d.received_ns - d.sent_ns) / 1e6
        for d in first_ok.values()
        if d.sent_ns and d.received_ns >= d.sent_ns
    ]
    revisions: dict[str, int] = {}
    for d in first_ok.values():
        revisions[d.revision] = revisions.get(d.revision, 0) + 1
    sent = publish.requests
    return EventsSummary(
        sent=sent,
        accepted=len(accepted),
        delivered=delivered,
        lost=len(accepted) - delivered - len(dead),
        duplicated=duplicated,
        unexpected=len(unexpected),
        dead_lettered=len(dead),
        publish_failures=max(0, sent - len(accepted)),
        duration_s=duration_s,
        drain_s=drain_s,
        publish_latency=publish.latency,
        delivery_latency=Histogram.from_samples(latencies) if latencies else Histogram.empty(),
        revisions=dict(sorted(revisions.items())),
        by_revision=revision_events(rows),
        publish_errors={
            "5xx": publish.errors_5xx,
            "4xx": publish.errors_4xx,
            "connection": publish.connection_errors,
            "timeout": publish.timeouts,
        },
        run=run,
        interrupted=interrupted,
    )
