"""In-memory stand-ins for the canary controller's collaborators (no process, no socket).

* `FakeClock`: the controller's injectable clock and sleep; `sleep` advances time at once
  and fires what a test scheduled (`at`), e.g. a signal or a crash at a given moment.
* `FakeLoad`: the `ArmLoad` interface; cumulative per-arm snapshots computed from the
  clock (requests per second, error rate, a log-normal latency laid out on fixed
  quantiles, so every run is the same).
* `FakeBackend`: the `TrafficBackend` protocol over one in-memory Service. It keeps its
  contract: on a conflict (409) it re-reads and calls ``compute`` again, a bounded number
  of times, then raises `Aborted`.
* `FakeMetrics`: the `MetricSource` protocol with counters per revision, or no series.

The journal is the real `SqliteStore` on a temporary file: it starts no process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from statistics import NormalDist
from typing import Any

from analysis import ArmSnapshot, Histogram
from harness.errors import Aborted, HarnessError
from harness.knative.backend import TrafficCompute
from harness.knative.model import RevisionState, ServiceState
from harness.knative.traffic import TrafficTarget
from harness.metrics.source import RevisionCounters

# Latency is laid out on this many fixed quantiles of a log-normal (sigma 0.3).
_POINTS = 200
_SHAPE = [NormalDist(0.0, 0.3).inv_cdf((i + 0.5) / _POINTS) for i in range(_POINTS)]


def snapshot(requests: int, error_rate: float, median_ms: float) -> ArmSnapshot:
    """A deterministic arm snapshot: ``requests`` rounded down to whole quantile layers."""
    per_point = requests // _POINTS
    latency = Histogram.empty()
    if per_point:
        for z in _SHAPE:
            latency.record(median_ms * 2.718281828459045**z, per_point)
    total = per_point * _POINTS
    return ArmSnapshot(requests=total, errors=int(total * error_rate), latency=latency)


class FakeClock:
    """Monotonic seconds that move only when the controller sleeps."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []
        self._scheduled: list[tuple[float, Callable[[], None]]] = []

    def __call__(self) -> float:
        return self.now

    def at(self, t: float, action: Callable[[], None]) -> None:
        """Run ``action`` inside the first sleep that reaches time ``t``."""
        self._scheduled.append((t, action))

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        due = [item for item in self._scheduled if item[0] <= self.now]
        self._scheduled = [item for item in self._scheduled if item[0] > self.now]
        for _, action in due:
            action()


@dataclass
class ArmBehaviour:
    """How one tagged arm answers: its rate, errors, latency and which revisions serve it."""

    rps: float = 1000.0
    error_rate: float = 0.0
    median_ms: float = 20.0
    answered_by: Mapping[str, float] | None = None  # revision -> share; None: its own


@dataclass
class ArmStats:
    """What `LoadDriver.snapshot` gives per arm (only what the controller reads)."""

    snap: ArmSnapshot
    revisions: dict[str, int]

    def to_snapshot(self) -> ArmSnapshot:
        return self.snap


class FakeLoad:
    """Cumulative snapshots of tagged arms since ``clock`` read ``started``."""

    def __init__(self, clock: FakeClock, arms: Mapping[str, tuple[str, ArmBehaviour]]) -> None:
        """``arms``: tag -> (its revision, behaviour)."""
        self.clock = clock
        self.arms = dict(arms)
        self.started = clock()
        self.snapshots = 0

    def snapshot(self) -> Mapping[str, Any]:
        self.snapshots += 1
        elapsed = self.clock() - self.started
        out = {}
        for tag, (revision, b) in self.arms.items():
            snap = snapshot(int(b.rps * elapsed), b.error_rate, b.median_ms)
            shares = b.answered_by or {revision: 1.0}
            seen = {rev: int(snap.requests * share) for rev, share in shares.items()}
            out[tag] = ArmStats(snap=snap, revisions=seen)
        return out


def service(traffic: Sequence[TrafficTarget], latest_ready: str) -> ServiceState:
    """A Ready Service ``default/hello`` with that traffic block."""
    return ServiceState(
        name="hello",
        namespace="default",
        generation=1,
        observed_generation=1,
        resource_version="1",
        ready=True,
        spec_traffic=tuple(traffic),
        latest_created_revision=latest_ready,
        latest_ready_revision=latest_ready,
    )


@dataclass
class FakeBackend:
    """One Service in memory. Writes are checked (percents sum to 100) and kept in order.

    Keyed by the number of the ``set_traffic`` call (1 for the first): ``conflicts`` are
    changes another writer lands between this call's read and its write, one per attempt,
    as 409s would reveal them; ``errors`` make that call raise (nothing written).
    ``before_write`` runs as each call starts (a test checks the journal there).
    """

    state: ServiceState
    conflicts: dict[int, list[Callable[[ServiceState], ServiceState]]] = field(default_factory=dict)
    errors: dict[int, HarnessError] = field(default_factory=dict)
    max_attempts: int = 5
    calls: int = 0
    writes: list[tuple[TrafficTarget, ...]] = field(default_factory=list)
    conflicts_seen: int = 0
    before_write: Callable[[], None] = lambda: None

    def get_service(self, namespace: str, name: str) -> ServiceState:
        return self.state

    def list_revisions(self, namespace: str, service: str) -> list[RevisionState]:
        return []

    def set_traffic(
        self, namespace: str, name: str, compute: TrafficCompute, *, timeout: float = 60.0
    ) -> ServiceState:
        self.calls += 1
        self.before_write()
        if self.calls in self.errors:
            raise self.errors[self.calls]
        pending = list(self.conflicts.get(self.calls, []))
        for _ in range(self.max_attempts):
            read = self.state
            desired = tuple(compute(read))
            if pending:  # someone wrote in between: 409, re-read, compute again
                self.state = pending.pop(0)(self.state)
                self.conflicts_seen += 1
                continue
            total = sum(t.percent or 0 for t in desired)
            assert total == 100, f"the controller wrote a block summing to {total}: {desired}"
            generation = (read.generation or 0) + 1
            self.state = replace(
                read, spec_traffic=desired, generation=generation, observed_generation=generation
            )
            self.writes.append(desired)
            return self.state
        raise Aborted(f"{name}: the traffic change kept conflicting with other writers")

    def wait_ready(self, namespace: str, name: str, *, timeout: float = 60.0) -> ServiceState:
        return self.state

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("the controller never applies manifests")

    def close(self) -> None:
        pass

    def percents(self) -> dict[str, int]:
        """Revision -> percent of the Service's traffic block now."""
        out: dict[str, int] = {}
        for t in self.state.spec_traffic:
            key = t.revision_name or "latest"
            out[key] = out.get(key, 0) + (t.percent or 0)
        return out


class FakeMetrics:
    """Server-side counters: per revision the same arithmetic as `FakeLoad`, or no series."""

    def __init__(
        self,
        clock: FakeClock,
        revisions: Mapping[str, ArmBehaviour],
        *,
        series_after_s: float | None = 0.0,
    ) -> None:
        """``series_after_s``: seconds until the series appear; None: they never do."""
        self.clock = clock
        self.revisions = dict(revisions)
        self.started = clock()
        self.series_after_s = series_after_s
        self.reads = 0
        self._first: dict[str, ArmSnapshot] = {}

    def has_series(self, namespace: str, service: str, revision: str, tag: str = "") -> bool:
        if self.series_after_s is None:
            return False
        return self.clock() - self.started >= self.series_after_s

    def read(self, namespace: str, service: str, revision: str, tag: str = "") -> RevisionCounters:
        self.reads += 1
        b = self.revisions[revision]
        now = snapshot(int(b.rps * (self.clock() - self.started)), b.error_rate, b.median_ms)
        first = self._first.setdefault(revision, now)
        assert now.latency is not None and first.latency is not None
        return RevisionCounters(
            requests=now.requests - first.requests,
            errors=now.errors - first.errors,
            latency=now.latency - first.latency,
            series=1,
        )
