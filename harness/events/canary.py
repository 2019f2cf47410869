"""Canaries of event consumers: ``harness canary SVC --from v1 --to v2 --events BROKER``.

The load is CloudEvents sent to the Broker (`harness.events.user`), so the Service's
``spec.traffic`` splits them between the two revisions as the canary shifts it. The
controller (`harness.canary.controller`) is the HTTP canary's, unchanged: it asks its
load for cumulative per-arm statistics, and here an arm is what one revision's receiver
reported, read through the revision's tag URL (the canary's baseline and canary tags):

* requests: delivery attempts the revision answered (retries included);
* errors: its non-2xx answers (each one a retry or, at the end, a dead letter);
* latency: its processing time per delivery.

The judge's error e-process compares error rates per request, so the arms need not get
equal load (the sample-ratio check is off) and the split may change between looks. The
server-side judge reads the same revisions' queue-proxy metrics from Prometheus, as for
HTTP. Promotion, rollback, the journal, resume and reports are the HTTP canary's.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from analysis import ArmSnapshot, Histogram
from harness.errors import BadInput
from harness.events.cloudevent import EventShape
from harness.events.collect import read_new
from harness.events.discovery import BrokerInfo, read_broker
from harness.events.run import SENDER_ARM, check_receivers, sender_arm
from harness.events.sender import new_run_token, user_config
from harness.events.sender import user_code as events_user_code
from harness.load.driver import LoadStatus
from harness.load.plan import Pacing, UserCode
from harness.load.targets import Arm


@dataclass(frozen=True)
class EventCanary:
    """What preflight found: where events go and what they look like."""

    broker: BrokerInfo
    sender: Arm
    shape: EventShape = field(default_factory=EventShape)


def prepare(
    kubeconfig: Path,
    context: str | None,
    namespace: str,
    broker: str,
    service: str,
    ingress: str | None,
    shape: EventShape | None = None,
) -> EventCanary:
    """Read the Broker; ``BadInput`` unless one of its Triggers delivers to ``service``."""
    info = read_broker(kubeconfig, context, namespace, broker)
    if service not in info.subscribers:
        have = ", ".join(info.subscribers) or "none"
        raise BadInput(
            f"broker {namespace}/{broker} has no Trigger to Knative Service {service} "
            f"(its Service subscribers: {have})"
        )
    return EventCanary(broker=info, sender=sender_arm(info, ingress), shape=shape or EventShape())


@dataclass
class _ArmTotals:
    attempts: int = 0
    failures: int = 0
    latency: Histogram = field(default_factory=Histogram.empty)
    revisions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class EventArmStats:
    """One arm's cumulative view, as the controller reads an arm of `LoadDriver`."""

    requests: int
    errors: int
    latency: Histogram
    revisions: Mapping[str, int]

    def to_snapshot(self) -> ArmSnapshot:
        """Attempts, failed attempts, processing latency (ms)."""
        return ArmSnapshot(requests=self.requests, errors=self.errors, latency=self.latency)


class EventCanaryLoad:
    """The controller's load (`ArmLoad`): CloudEvents to the Broker, arms read from the
    receivers behind the canary's two tag URLs. Use as a context manager."""

    def __init__(self, canary: EventCanary) -> None:
        from harness.load.driver import LoadDriver

        self.canary = canary
        self.run = new_run_token()
        self._driver = LoadDriver()
        self._folder = tempfile.TemporaryDirectory(prefix="harness-events-")
        self._sources: list[Arm] = []
        self._after: dict[str, int] = {}
        self._totals: dict[str, _ArmTotals] = {}
        self._lock = threading.Lock()
        self._client: Any = None

    def start(
        self,
        arms: Sequence[Arm],
        pacing: Pacing,
        duration_s: float,
        max_requests: int | None = None,
        *,
        user_code: UserCode | None = None,
        **_: Any,
    ) -> None:
        """Check both receivers answer, then start sending (``arms``: the tag arms)."""
        import httpx

        if user_code is not None:
            raise BadInput("--events sends CloudEvents: it does not take a --locustfile")
        self._sources = list(arms)
        check_receivers(self._sources, self.run)
        self._client = httpx.Client(timeout=10.0)
        self._after = {arm.name: 0 for arm in arms}
        self._totals = {arm.name: _ArmTotals() for arm in arms}
        config = user_config(
            Arm(SENDER_ARM, self.canary.sender.url, self.canary.sender.host_header),
            self.canary.shape,
            self.run,
            Path(self._folder.name),
            pacing,
        )
        self._driver.start(
            [self.canary.sender],
            Pacing.closed(pacing.users),
            duration_s,
            max_requests,
            user_code=events_user_code(config),
        )

    def snapshot(self) -> dict[str, EventArmStats]:
        """Each arm's attempts, failures and processing latency since the run began."""
        with self._lock:
            for source in self._sources:
                rows, after, _ = read_new(self._client, source, self.run, self._after[source.name])
                self._after[source.name] = after
                totals = self._totals[source.name]
                latencies = []
                for d in rows:
                    if d.dead_letter:
                        continue
                    totals.attempts += 1
                    if not 200 <= d.status < 300:
                        totals.failures += 1
                    totals.revisions[d.revision] = totals.revisions.get(d.revision, 0) + 1
                    latencies.append(d.processing_us / 1000.0)
                if latencies:
                    totals.latency.record_many(latencies)
            return {
                name: EventArmStats(t.attempts, t.failures, t.latency.copy(), dict(t.revisions))
                for name, t in self._totals.items()
            }

    def status(self) -> LoadStatus:
        """The sender's status (events sent, in the sender arm)."""
        return self._driver.status()

    def close(self) -> None:
        """Stop sending and release everything."""
        try:
            self._driver.close()
        finally:
            if self._client is not None:
                self._client.close()
            self._folder.cleanup()

    def __enter__(self) -> EventCanaryLoad:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
