"""Knative's KPA for one revision as a pure model: numbers and times in, decisions out.

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
delay window does. Unlike Knative, where min-scale and max-scale are applied later by
the KPA reconciler, the desired count here is already kept within [min-scale,
max-scale]. No I/O: the emulator's runtime loop (``harness.local.autoscaler``) and the
what-if simulator (``harness.autoscale``) both drive this one model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from harness.knative import autoscaling as annotations_
from harness.knative.cluster import HPA
from harness.knative.goparse import SECOND, parse_duration, parse_float, parse_int

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
# The collector's bucket size and the decider's tick.
GRANULARITY_S = 1.0
TICK_INTERVAL_S = 2.0
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
