"""The emulator's autoscaler: what Knative's KPA would decide for every revision, as gauges.

Knative's autoscaler scrapes each pod's queue-proxy every second for its average
concurrency over that second, keeps a stable window (60 s, or the revision's
``autoscaling.knative.dev/window``) and a panic window (``panic-window-percentage`` of
it, 10%) of 1-second buckets, and every 2 s computes the pods it wants
(``pkg/autoscaler/scaling/autoscaler.go``):

- desired = ceil(observed / target), stable and panic window alike, kept within
  [floor(ready / 2), ceil(1000 x ready)] (max scale-down and scale-up rates);
- panic mode begins when the panic window's desired pods reach ``panic-threshold-percentage``
  (200%) of the ready pods, is extended while they stay there, and ends once a whole
  stable window has passed below it; in panic the desired count never goes down;
- the target is ``autoscaling.knative.dev/target`` (capped at ``containerConcurrency``
  when that is set), else ``containerConcurrency``, else 100, times
  ``target-utilization-percentage`` (70%) — ``pkg/reconciler/autoscaling/resources``.

``scale-down-delay`` keeps the highest count decided over that delay, as Knative's
delay window does. ``actual pods`` is the revision's ready pods; the observed value is
summed over them. By default the emulator runs one pod per revision and only reports
what the KPA would ask for; with ``harness local up --max-pods N`` the daemon hands each
decision to the data plane (``on_decision``), which runs that many pods within the
revision's bounds. Unlike Knative, where min-scale and max-scale are applied later by
the KPA reconciler, the desired count here is already kept within [min-scale,
max-scale]. :class:`KpaModel` is the pure model (numbers and times in, a
:class:`Decision` out); :class:`Autoscaler` samples the pods' ``/stats`` and serves the
gauges on ``/metrics`` in the emulator's metrics schema.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import aiohttp
from aiohttp import web

from harness.knative import autoscaling as annotations_
from harness.knative.cluster import HPA
from harness.knative.goparse import SECOND, parse_duration, parse_float, parse_int
from harness.local.metrics import SCHEMAS, MetricsSchema
from harness.local.prometheus import MetricsTarget
from harness.local.revision import STATS_PATH
from harness.local.supervisor import PodProcess

log = logging.getLogger(__name__)

# Knative's defaults (config/core/configmaps/autoscaler.yaml).
STABLE_WINDOW_S = 60.0
PANIC_WINDOW_PERCENTAGE = 10.0
PANIC_THRESHOLD_PERCENTAGE = 200.0
CONCURRENCY_TARGET_DEFAULT = 100.0
RPS_TARGET_DEFAULT = 200.0
TARGET_UTILIZATION_PERCENTAGE = 70.0
TARGET_BURST_CAPACITY = 211.0
MAX_SCALE_UP_RATE = 1000.0
MAX_SCALE_DOWN_RATE = 2.0
# The collector's bucket size and scrape period, and the decider's tick.
GRANULARITY_S = 1.0
SCRAPE_INTERVAL_S = 1.0
TICK_INTERVAL_S = 2.0
_SCRAPE_TIMEOUT_S = 0.5
_PRECISION = 6  # Knative rounds window averages to 6 digits before dividing


@dataclass(frozen=True)
class ScalingSettings:
    """A revision's KPA knobs, resolved as Knative resolves them.

    ``target`` is the per-pod value aimed at (``total`` x utilization), ``total`` what
    one pod can take; windows and ``scale_down_delay_s`` in seconds; ``panic_threshold``
    a ratio (2.0 = 200%); ``max_scale`` 0 means unlimited.
    """

    metric: str = "concurrency"
    target: float = CONCURRENCY_TARGET_DEFAULT * TARGET_UTILIZATION_PERCENTAGE / 100
    total: float = CONCURRENCY_TARGET_DEFAULT
    stable_window_s: float = STABLE_WINDOW_S
    panic_window_s: float = STABLE_WINDOW_S * PANIC_WINDOW_PERCENTAGE / 100
    panic_threshold: float = PANIC_THRESHOLD_PERCENTAGE / 100
    min_scale: int = 0
    max_scale: int = 0
    target_burst_capacity: float = TARGET_BURST_CAPACITY
    scale_down_delay_s: float = 0.0

    @classmethod
    def from_revision(
        cls, annotations: Mapping[str, str], container_concurrency: int = 0
    ) -> ScalingSettings | None:
        """The settings of a revision from its annotations and ``containerConcurrency``.

        None for a revision of the HPA class (the KPA does not scale it). A value the
        webhook would have rejected falls back to the default.
        """
        klass = annotations_.lookup(annotations, annotations_.CLASS)
        if klass is not None and klass[1] == HPA:
            return None
        metric_found = annotations_.lookup(annotations, annotations_.METRIC)
        metric = "rps" if metric_found is not None and metric_found[1] == "rps" else "concurrency"
        if metric == "rps":
            total = RPS_TARGET_DEFAULT
        else:
            total = float(container_concurrency) or CONCURRENCY_TARGET_DEFAULT
        annotated = _float(annotations, annotations_.TARGET)
        if annotated is not None and annotated >= annotations_.TARGET_MIN:
            total = annotated
            if metric == "concurrency" and container_concurrency > 0:
                total = min(annotated, float(container_concurrency))
        utilization = _float(annotations, annotations_.TARGET_UTILIZATION)
        if utilization is None or not 1 <= utilization <= 100:
            utilization = TARGET_UTILIZATION_PERCENTAGE
        stable = _window_s(annotations)
        panic_percentage = _float(annotations, annotations_.PANIC_WINDOW)
        if panic_percentage is None or not 1 <= panic_percentage <= 100:
            panic_percentage = PANIC_WINDOW_PERCENTAGE
        threshold = _float(annotations, annotations_.PANIC_THRESHOLD)
        if threshold is None or not 110 <= threshold <= 1000:
            threshold = PANIC_THRESHOLD_PERCENTAGE
        burst = _float(annotations, annotations_.TARGET_BURST_CAPACITY)
        if burst is None or (burst < 0 and burst != -1):
            burst = TARGET_BURST_CAPACITY
        low, high, _ = revision_scale(annotations)
        return cls(
            metric=metric,
            target=max(annotations_.TARGET_MIN, total * utilization / 100),
            total=total,
            stable_window_s=stable,
            panic_window_s=max(GRANULARITY_S, stable * panic_percentage / 100),
            panic_threshold=threshold / 100,
            min_scale=low,
            max_scale=high,
            target_burst_capacity=burst,
            scale_down_delay_s=_scale_down_delay_s(annotations),
        )


def revision_scale(annotations: Mapping[str, str]) -> tuple[int, int, int]:
    """A revision's (min-scale, max-scale, initial-scale) from its annotations: 0, 0 (no
    maximum) and 1 when absent or invalid, as Knative defaults them."""
    low = _int(annotations, annotations_.MIN_SCALE)
    high = _int(annotations, annotations_.MAX_SCALE)
    initial = 1
    if annotations_.lookup(annotations, annotations_.INITIAL_SCALE) is not None:
        initial = _int(annotations, annotations_.INITIAL_SCALE)
    return low, high if high >= low else 0, initial


def _float(annotations: Mapping[str, str], key: str) -> float | None:
    found = annotations_.lookup(annotations, key)
    if found is None:
        return None
    try:
        value = parse_float(found[1])
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _int(annotations: Mapping[str, str], key: str) -> int:
    found = annotations_.lookup(annotations, key)
    if found is None:
        return 0
    try:
        return max(0, parse_int(found[1], 32))
    except ValueError:
        return 0


def _scale_down_delay_s(annotations: Mapping[str, str]) -> float:
    found = annotations_.lookup(annotations, annotations_.SCALE_DOWN_DELAY)
    if found is None:
        return 0.0
    try:
        nanos = parse_duration(found[1])
    except ValueError:
        return 0.0
    return nanos / SECOND if 0 <= nanos <= annotations_.WINDOW_MAX else 0.0


def _window_s(annotations: Mapping[str, str]) -> float:
    found = annotations_.lookup(annotations, annotations_.WINDOW)
    if found is None:
        return STABLE_WINDOW_S
    try:
        nanos = parse_duration(found[1])
    except ValueError:
        return STABLE_WINDOW_S
    if not annotations_.WINDOW_MIN <= nanos <= annotations_.WINDOW_MAX:
        return STABLE_WINDOW_S
    return nanos / SECOND


class WindowAverage:
    """The average of 1-second buckets over a trailing window, with Knative's edge rules.

    A value recorded at time t is added to bucket floor(t / granularity). The average at
    ``now`` covers the window's buckets, except that a window which began (first data)
    less than a window ago is averaged over the part since then, and one whose newest
    data is older than ``now`` over the part up to that data; missing buckets in between
    count as 0. A whole window without data starts afresh.
    """

    def __init__(self, window_s: float, granularity_s: float = GRANULARITY_S) -> None:
        self.granularity = granularity_s
        self.size = max(1, math.ceil(window_s / granularity_s - 1e-9))
        self._buckets: dict[int, float] = {}
        self._first: int | None = None
        self._last: int | None = None

    def _index(self, t: float) -> int:
        return math.floor(t / self.granularity)

    def record(self, t: float, value: float) -> None:
        """Add ``value`` to the bucket of time ``t`` (values of one bucket are summed)."""
        index = self._index(t)
        if self._last is not None and index - self._last >= self.size:
            self._buckets.clear()
            self._first = None
        if self._first is None:
            self._first = index
        self._buckets[index] = self._buckets.get(index, 0.0) + value
        self._last = index if self._last is None else max(self._last, index)
        oldest = self._last - self.size
        for stale in [i for i in self._buckets if i <= oldest]:
            del self._buckets[stale]

    def average(self, now: float) -> float | None:
        """The window's average at ``now``; None when the window holds no data."""
        current = self._index(now)
        if self._last is None or self._first is None or current - self._last >= self.size:
            return None
        start = max(self._first, current - self.size + 1)
        end = min(current, self._last)
        if end < start:
            return None
        total = sum(self._buckets.get(i, 0.0) for i in range(start, end + 1))
        return round(total / (end - start + 1), _PRECISION)


@dataclass(frozen=True)
class Decision:
    """One KPA tick for a revision: what it observed and the pods it wants."""

    desired_pods: int
    actual_pods: int
    panic_mode: bool
    stable: float
    panic: float
    target: float
    excess_burst_capacity: float


class KpaModel:
    """Knative's KPA for one revision, without processes or clocks: feed it observations
    (`record`) and ask for a decision (`decide`) with explicit times in seconds."""

    def __init__(self, settings: ScalingSettings) -> None:
        self.settings = settings
        self._stable = WindowAverage(settings.stable_window_s)
        self._panic = WindowAverage(settings.panic_window_s)
        self._panic_since: float | None = None
        self._max_panic_pods = 0
        self._delayed: list[tuple[float, int]] = []  # (time, count) over scale-down-delay
        self.decision: Decision | None = None

    def record(self, t: float, value: float) -> None:
        """One observation at time ``t``: the revision's average concurrency (or requests
        per second) over the scrape period ending then, summed over its pods."""
        self._stable.record(t, value)
        self._panic.record(t, value)

    def decide(self, now: float, ready_pods: int) -> Decision | None:
        """The decision at ``now`` with ``ready_pods`` ready; the previous decision (or
        None) when the windows hold no data, as Knative keeps its last scale."""
        stable = self._stable.average(now)
        panic = self._panic.average(now)
        if stable is None or panic is None:
            return self.decision
        spec = self.settings
        ready = max(1.0, float(ready_pods))
        max_up = math.ceil(MAX_SCALE_UP_RATE * ready)
        max_down = math.floor(ready / MAX_SCALE_DOWN_RATE)
        stable_pods = math.ceil(stable / spec.target)
        panic_pods = math.ceil(panic / spec.target)
        desired_stable = min(max(stable_pods, max_down), max_up)
        desired_panic = min(max(panic_pods, max_down), max_up)
        over_threshold = panic_pods / ready >= spec.panic_threshold
        if over_threshold:
            self._panic_since = now  # begins, or is extended
        elif self._panic_since is not None and now > self._panic_since + spec.stable_window_s:
            self._panic_since = None
            self._max_panic_pods = 0
        desired = desired_stable
        if self._panic_since is not None:
            self._max_panic_pods = max(self._max_panic_pods, desired_stable, desired_panic)
            desired = self._max_panic_pods
        if spec.scale_down_delay_s > 0:
            # Knative's delay window: the highest count decided within the delay.
            self._delayed = [(t, n) for t, n in self._delayed if t > now - spec.scale_down_delay_s]
            self._delayed.append((now, desired))
            desired = max(n for _, n in self._delayed)
        desired = max(desired, spec.min_scale)
        if spec.max_scale:
            desired = min(desired, spec.max_scale)
        if spec.target_burst_capacity == 0:
            excess = 0.0
        elif spec.target_burst_capacity > 0:
            excess = math.floor(ready_pods * spec.total - spec.target_burst_capacity - panic)
        else:
            excess = -1.0
        self.decision = Decision(
            desired_pods=desired,
            actual_pods=ready_pods,
            panic_mode=self._panic_since is not None,
            stable=stable,
            panic=panic,
            target=spec.target,
            excess_burst_capacity=excess,
        )
        return self.decision


# ----------------------------------------------------------------- exposition
@dataclass(frozen=True)
class _Gauge:
    legacy: str
    otel: str
    help: str


_GAUGES: dict[str, _Gauge] = {
    "desired_pods": _Gauge(
        "autoscaler_desired_pods",
        "kn_revision_pods_desired",
        "Number of pods the autoscaler wants to allocate",
    ),
    "actual_pods": _Gauge(
        "autoscaler_actual_pods",
        "kn_revision_pods_count",
        "Number of pods that are allocated currently",
    ),
    "panic_mode": _Gauge(
        "autoscaler_panic_mode",
        "kn_revision_panic_mode",
        "1 if the autoscaler is in panic mode, 0 otherwise",
    ),
    "excess_burst_capacity": _Gauge(
        "autoscaler_excess_burst_capacity",
        "kn_revision_capacity_excess",
        "Excess burst capacity observed over the stable window",
    ),
    "stable_concurrency": _Gauge(
        "autoscaler_stable_request_concurrency",
        "kn_revision_concurrency_stable",
        "Average of request count per observed pod over the stable window",
    ),
    "panic_concurrency": _Gauge(
        "autoscaler_panic_request_concurrency",
        "kn_revision_concurrency_panic",
        "Average of request count per observed pod over the panic window",
    ),
    "target_concurrency": _Gauge(
        "autoscaler_target_concurrency_per_pod",
        "kn_revision_concurrency_target",
        "The desired number of concurrent requests for each pod",
    ),
    "stable_rps": _Gauge(
        "autoscaler_stable_requests_per_second",
        "kn_revision_rps_stable",
        "Average requests-per-second per observed pod over the stable window",
    ),
    "panic_rps": _Gauge(
        "autoscaler_panic_requests_per_second",
        "kn_revision_rps_panic",
        "Average requests-per-second per observed pod over the panic window",
    ),
    "target_rps": _Gauge(
        "autoscaler_target_requests_per_second",
        "kn_revision_rps_target",
        "The desired requests-per-second for each pod",
    ),
}
_OTEL_SCOPE = 'otel_scope_name="knative.dev/serving/pkg/autoscaler",otel_scope_version=""'


@dataclass(frozen=True)
class RevisionGauges:
    """The gauges of one revision, as exported."""

    namespace: str
    service: str
    configuration: str
    revision: str
    metric: str
    decision: Decision


def render_gauges(revisions: Sequence[RevisionGauges], schema: MetricsSchema) -> str:
    """The autoscaler's exposition in Prometheus text format 0.0.4.

    ``legacy``: ``autoscaler_*`` labelled ``namespace_name, service_name,
    configuration_name, revision_name`` (Knative's ``CommonRevisionKeys``; an empty
    service is ``unknown``). ``otel``: ``kn_revision_*`` labelled ``k8s_namespace_name,
    kn_service_name, kn_configuration_name, kn_revision_name`` plus the otel scope.
    """
    if schema not in SCHEMAS:
        raise ValueError(f"unknown metrics schema {schema!r}")
    rows: dict[str, list[str]] = {name: [] for name in _GAUGES}
    for item in sorted(revisions, key=lambda r: (r.namespace, r.revision)):
        labels = _labels(item, schema)
        d = item.decision
        values: dict[str, float] = {
            "desired_pods": d.desired_pods,
            "actual_pods": d.actual_pods,
            "panic_mode": 1 if d.panic_mode else 0,
            "excess_burst_capacity": d.excess_burst_capacity,
        }
        kind = "rps" if item.metric == "rps" else "concurrency"
        values[f"stable_{kind}"] = d.stable
        values[f"panic_{kind}"] = d.panic
        values[f"target_{kind}"] = d.target
        for key, value in values.items():
            name = getattr(_GAUGES[key], schema)
            rows[key].append(f"{name}{{{labels}}} {_number(value)}")
    lines: list[str] = []
    for key, gauge in _GAUGES.items():
        if not rows[key]:
            continue
        name = getattr(gauge, schema)
        lines += [f"# HELP {name} {gauge.help}", f"# TYPE {name} gauge", *rows[key]]
    return "\n".join(lines) + "\n" if lines else ""


def _labels(item: RevisionGauges, schema: MetricsSchema) -> str:
    service = item.service or "unknown"
    if schema == "legacy":
        pairs = (
            ("configuration_name", item.configuration),
            ("namespace_name", item.namespace),
            ("revision_name", item.revision),
            ("service_name", service),
        )
        return ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    pairs = (
        ("k8s_namespace_name", item.namespace),
        ("kn_configuration_name", item.configuration),
        ("kn_revision_name", item.revision),
        ("kn_service_name", service),
    )
    return ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "," + _OTEL_SCOPE


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


# ----------------------------------------------------------------- runtime
@dataclass(frozen=True)
class ScaledPod:
    """One pod of a revision: its metrics ``host:port`` (None while it has none) and
    whether it passes its readiness probe."""

    name: str
    stats_address: str | None
    ready: bool


@dataclass(frozen=True)
class ScaledRevision:
    """A revision as the autoscaler sees it each scrape (plain values from the emulator)."""

    namespace: str
    service: str
    configuration: str
    name: str
    pods: tuple[ScaledPod, ...]
    annotations: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    container_concurrency: int = 0

    @property
    def ready_pods(self) -> int:
        """Knative's actual pods: those that pass their readiness probe."""
        return sum(1 for pod in self.pods if pod.ready)


RevisionSource = Callable[[], Sequence[ScaledRevision]]
DecisionCallback = Callable[[str, str, Decision], None]


@dataclass
class _Tracked:
    revision: ScaledRevision
    model: KpaModel
    last_stats: dict[str, Mapping[str, float]] = field(default_factory=dict)  # per pod


class Autoscaler:
    """Samples every revision's ``/stats`` each second, decides every 2 s, serves gauges.

    ``source`` lists the revisions (called once per scrape, on the loop); ``on_decision``,
    when given, gets every revision's decision after each tick (namespace, name,
    decision), which is how the daemon scales pods. Use from one asyncio loop: `start`
    binds ``/metrics`` on a free loopback port and returns its ``host:port``; `close`
    stops everything.
    """

    def __init__(
        self,
        source: RevisionSource,
        schema: MetricsSchema = "legacy",
        *,
        scrape_interval_s: float = SCRAPE_INTERVAL_S,
        tick_interval_s: float = TICK_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        on_decision: DecisionCallback | None = None,
    ) -> None:
        if schema not in SCHEMAS:
            raise ValueError(f"unknown metrics schema {schema!r}")
        self.schema = schema
        self._source = source
        self._on_decision = on_decision
        self._scrape_interval = scrape_interval_s
        self._tick_interval = tick_interval_s
        self._clock = clock
        self._tracked: dict[tuple[str, str], _Tracked] = {}
        self._session: aiohttp.ClientSession | None = None
        self._server: asyncio.AbstractServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve ``GET /metrics`` and start sampling; returns the ``host:port`` served."""
        loop = asyncio.get_running_loop()
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=_SCRAPE_TIMEOUT_S),
            connector=aiohttp.TCPConnector(limit=0),
        )
        self._server = await loop.create_server(
            web.Server(self._serve_metrics, access_log=None), host, port
        )
        self._task = loop.create_task(self._run(), name="autoscaler")
        bound = self._server.sockets[0].getsockname()
        return f"{bound[0]}:{bound[1]}"

    async def close(self) -> None:
        """Stop sampling and serving."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._session is not None:
            await self._session.close()

    def gauges(self) -> list[RevisionGauges]:
        """The last decision of every revision that has one."""
        return [
            RevisionGauges(
                namespace=t.revision.namespace,
                service=t.revision.service,
                configuration=t.revision.configuration,
                revision=t.revision.name,
                metric=t.model.settings.metric,
                decision=t.model.decision,
            )
            for t in self._tracked.values()
            if t.model.decision is not None
        ]

    def render(self) -> str:
        """The exposition of :meth:`gauges` in the emulator's schema."""
        return render_gauges(self.gauges(), self.schema)

    async def _serve_metrics(self, request: web.BaseRequest) -> web.Response:
        if request.path != "/metrics":
            return web.Response(status=404, text="404: Not Found\n")
        return web.Response(text=self.render(), content_type="text/plain", charset="utf-8")

    async def _run(self) -> None:
        next_tick = self._clock() + self._tick_interval
        while True:
            started = self._clock()
            try:
                await self.scrape_once()
                if self._clock() >= next_tick:
                    self.tick()
                    next_tick = self._clock() + self._tick_interval
            except Exception:  # one bad round must not stop the autoscaler
                log.exception("autoscaler round failed")
            await asyncio.sleep(max(0.0, started + self._scrape_interval - self._clock()))

    async def scrape_once(self) -> None:
        """Read every listed revision's stats once and record what each observed."""
        revisions = {(r.namespace, r.name): r for r in self._source()}
        for key in [k for k in self._tracked if k not in revisions]:
            del self._tracked[key]
        for key, revision in revisions.items():
            tracked = self._tracked.get(key)
            if tracked is None or _settings_changed(tracked.revision, revision):
                settings = ScalingSettings.from_revision(
                    revision.annotations, revision.container_concurrency
                )
                if settings is None:
                    self._tracked.pop(key, None)
                    continue
                self._tracked[key] = _Tracked(revision, KpaModel(settings))
            else:
                tracked.revision = revision
        await asyncio.gather(*(self._scrape(t) for t in self._tracked.values()))

    async def _scrape(self, tracked: _Tracked) -> None:
        """Read each ready pod's stats and record the revision's total."""
        revision = tracked.revision
        if not revision.pods:
            # Scaled to zero: nothing in flight anywhere (requests held by the activator
            # wake a pod without the autoscaler), so the windows see 0 and the gauges
            # say 0 pods, as Knative's do.
            tracked.last_stats = {}
            tracked.model.record(self._clock(), 0.0)
            return
        pods = [p for p in revision.pods if p.ready and p.stats_address is not None]
        read = await asyncio.gather(*(self._read_stats(p) for p in pods))
        metric = tracked.model.settings.metric
        total: float | None = None
        last: dict[str, Mapping[str, float]] = {}
        for pod, stats in zip(pods, read, strict=True):
            if stats is None:
                continue
            last[pod.name] = stats
            value = observed_value(tracked.last_stats.get(pod.name), stats, metric)
            if value is None and metric == "concurrency":
                # A new (or restarted) process: what is in flight now stands for its first
                # period.
                value = float(stats["in_flight"])
            if value is not None:
                total = value + (total or 0.0)
        tracked.last_stats = last
        if total is not None:
            tracked.model.record(self._clock(), total)
            if tracked.model.decision is None:
                # A new revision gets its first decision at once, not at the next tick.
                tracked.model.decide(self._clock(), revision.ready_pods)

    async def _read_stats(self, pod: ScaledPod) -> Mapping[str, float] | None:
        if self._session is None:
            return None
        try:
            async with self._session.get(f"http://{pod.stats_address}{STATS_PATH}") as response:
                stats: dict[str, Any] = await response.json()
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
            return None
        return stats

    def tick(self) -> None:
        """One decision for every tracked revision (Knative: every 2 s), each handed to
        ``on_decision``."""
        now = self._clock()
        for tracked in self._tracked.values():
            decision = tracked.model.decide(now, tracked.revision.ready_pods)
            if decision is not None and self._on_decision is not None:
                revision = tracked.revision
                self._on_decision(revision.namespace, revision.name, decision)


def _settings_changed(old: ScaledRevision, new: ScaledRevision) -> bool:
    return (old.annotations, old.container_concurrency) != (
        new.annotations,
        new.container_concurrency,
    )


def observed_value(
    previous: Mapping[str, float] | None, current: Mapping[str, float], metric: str
) -> float | None:
    """The average concurrency (or requests per second) between two ``/stats`` snapshots
    of one process; None for the first snapshot or across a restart (counters went back)."""
    if previous is None:
        return None
    elapsed = float(current["t"]) - float(previous["t"])
    if elapsed <= 0:
        return None
    if metric == "rps":
        delta = float(current["requests"]) - float(previous["requests"])
    else:
        delta = float(current["concurrency_seconds"]) - float(previous["concurrency_seconds"])
    return delta / elapsed if delta >= 0 else None


def dataplane_revisions(
    targets: Callable[[], Sequence[MetricsTarget]],
    pods: Callable[[], Sequence[PodProcess]],
    revision_object: Callable[[str, str], Mapping[str, Any] | None],
    supervised: Callable[[], Sequence[tuple[str, str]]] | None = None,
) -> RevisionSource:
    """A `RevisionSource` over the data plane (``DataPlane.metrics_targets`` and
    ``DataPlane.pods``) and the Revision objects (annotations, containerConcurrency).

    A revision is listed once one of its pods listens, and stays listed, with no pods,
    while ``supervised`` (the data plane's ``(namespace, name)`` of every revision) still
    has it: a revision scaled to zero keeps its gauges (0 pods), as on a cluster."""
    known: dict[tuple[str, str], tuple[str, str]] = {}  # -> (service, configuration)

    def source() -> list[ScaledRevision]:
        ready = {(p.namespace, p.pod): p.ready for p in pods()}
        grouped: dict[tuple[str, str], list[MetricsTarget]] = {}
        for target in targets():
            grouped.setdefault((target.namespace, target.revision), []).append(target)
        for key, members in grouped.items():
            known[key] = (members[0].service, members[0].configuration)
        alive = set(supervised()) if supervised is not None else set(grouped)
        for key in [k for k in known if k not in alive]:
            del known[key]
        revisions = []
        for (namespace, name), (service, configuration) in known.items():
            members = grouped.get((namespace, name), [])
            obj = revision_object(namespace, name) or {}
            meta = obj.get("metadata") or {}
            spec = obj.get("spec") or {}
            revisions.append(
                ScaledRevision(
                    namespace=namespace,
                    service=service,
                    configuration=configuration,
                    name=name,
                    pods=tuple(
                        ScaledPod(t.pod, t.address, ready.get((namespace, t.pod), False))
                        for t in members
                    ),
                    annotations=dict(meta.get("annotations") or {}),
                    container_concurrency=int(spec.get("containerConcurrency") or 0),
                )
            )
        return revisions

    return source
