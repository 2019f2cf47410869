"""Knative's KPA for one revision as a pure model: numbers and times in, decisions out.

`Decider` is the autoscaler's ``Scale`` (knative/serving
``pkg/autoscaler/scaling/autoscaler.go`` at 98e5ef90aa7033797aa0a61ef97f3ff7e49a3944): given
the stable and panic window averages and the ready pods it computes

- desired = ceil(observed / target) for both windows, kept within
  [floor(ready / max-scale-down-rate), ceil(max-scale-up-rate x ready)] (no lower bound
  for an unreachable revision), ready counted as at least 1;
- with ``activation-scale`` > 1, any non-zero desired count is at least that;
- panic mode begins when the panic window's desired pods reach ``panic-threshold`` x
  ready, is extended while they stay there, and ends once a stable window has passed
  since the last time they did; in panic the count is the larger of both windows and
  never goes down; a decider created with more than one ready pod starts in panic;
- ``scale-down-delay``: the highest count decided within the delay (2 s buckets);
- excess burst capacity = floor(ready x total - target-burst-capacity - panic value),
  0 with a burst capacity of 0, -1 with an unlimited one (-1).

`KpaModel` adds the collector's windows (``WindowAverage``: stable window and panic
window of 1 s buckets; ``WeightedWindowAverage`` with ``metric-aggregation-algorithm:
weighted-exponential``) and min-scale/max-scale as the KPA reconciler applies them
(``kpa/scaler.go`` applyBounds). The emulator's runtime loop (``harness.local.autoscaler``)
and the what-if simulator (``harness.autoscale``) both drive this one model; the
reconciler's scale-to-zero and initial-scale rules are in ``harness.knative.kpa_scaler``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from harness.knative.kpa_settings import (
    STABLE_WINDOW_S,
    TICK_INTERVAL_S,
    ScalingSettings,
    revision_scale,
)
from harness.knative.kpa_windows import MaxWindow, WeightedWindowAverage, WindowAverage

# The emulator's daemon reads the settings through this module.
__all__ = [
    "STABLE_WINDOW_S",
    "Decider",
    "KpaModel",
    "ScaleDecision",
    "ScaleResult",
    "ScalingSettings",
    "apply_bounds",
    "revision_scale",
]


@dataclass(frozen=True)
class ScaleResult:
    """One valid ``Scale``: the pods the decider wants and the excess burst capacity."""

    desired_pods: int
    excess_burst_capacity: int


class Decider:
    """The decider of one revision (Knative's ``autoscaler``): panic state and the
    scale-down-delay window; `scale` is one tick, with explicit times in seconds."""

    def __init__(self, spec: ScalingSettings, ready_pods: int = 0, now: float = 0.0) -> None:
        self.spec = spec
        self.delay = (
            MaxWindow(spec.scale_down_delay_s, TICK_INTERVAL_S)
            if spec.scale_down_delay_s > 0
            else None
        )
        # Started with more than one ready pod (an autoscaler restart): in panic, so it
        # keeps the current scale until it has data (autoscaler.go newAutoscaler).
        self.panic_time: float | None = now if ready_pods > 1 else None
        self.max_panic_pods = ready_pods

    def update(self, spec: ScalingSettings) -> None:
        """A new spec (Knative's ``Update``); panic state and delay window stay."""
        self.spec = spec

    def scale(self, now: float, ready_pods: int, stable: float, panic: float) -> ScaleResult:
        """The decision at ``now`` from the windows' averages and the ready pods."""
        return ScaleResult(*self.scale_counts(now, ready_pods, stable, panic))

    def scale_counts(
        self, now: float, ready_pods: int, stable: float, panic: float
    ) -> tuple[int, int]:
        """`scale` as a pair (desired pods, excess burst capacity), for the hot loops."""
        spec = self.spec
        ready = float(ready_pods) if ready_pods > 1 else 1.0
        max_up = math.ceil(spec.max_scale_up_rate * ready)
        max_down = math.floor(ready / spec.max_scale_down_rate) if spec.reachable else 0
        target = spec.target
        stable_pods = math.ceil(stable / target)
        panic_pods = math.ceil(panic / target)
        # min(max(pods, max_down), max_up), without the calls
        desired_stable = stable_pods if stable_pods >= max_down else max_down
        if max_up < desired_stable:
            desired_stable = max_up
        desired_panic = panic_pods if panic_pods >= max_down else max_down
        if max_up < desired_panic:
            desired_panic = max_up
        activation = spec.activation_scale
        if activation > 1:
            if stable_pods > 0 and activation > desired_stable:
                desired_stable = activation
            if panic_pods > 0 and activation > desired_panic:
                desired_panic = activation
        if panic_pods / ready >= spec.panic_threshold:
            self.panic_time = now  # begins, or is extended
        elif self.panic_time is not None and self.panic_time + spec.stable_window_s < now:
            self.panic_time = None
            self.max_panic_pods = 0
        desired = desired_stable
        if self.panic_time is not None:
            if desired_panic > desired:
                desired = desired_panic
            if desired > self.max_panic_pods:
                self.max_panic_pods = desired
            desired = self.max_panic_pods
        if self.delay is not None and spec.reachable:
            self.delay.record(now, desired)
            desired = self.delay.current()
        burst = spec.target_burst_capacity
        if burst == 0:
            excess = 0
        elif burst > 0:
            excess = math.floor(ready_pods * spec.total - burst - panic)
        else:
            excess = -1
        return desired, excess

    @property
    def in_panic(self) -> bool:
        return self.panic_time is not None


@dataclass(frozen=True)
class ScaleDecision:
    """One KPA tick for a revision: what it observed and the pods it wants.

    ``desired_pods`` is kept within [min-scale, max-scale]; ``decided_pods`` is the
    decider's own count before those bounds (Knative's desired-pods gauge)."""

    desired_pods: int
    actual_pods: int
    panic_mode: bool
    stable: float
    panic: float
    target: float
    excess_burst_capacity: float
    decided_pods: int = field(default=-1, compare=False)


def apply_bounds(low: int, high: int, count: int) -> int:
    """``applyBounds``: ``count`` within [low, high], high 0 meaning no maximum."""
    if count < low:
        return low
    if high and count > high:
        return high
    return count


class KpaModel:
    """Knative's KPA for one revision, without processes or clocks: feed it observations
    (`record`) and ask for a decision (`decide`) with explicit times in seconds.

    ``ready_pods`` and ``now`` are those at creation (more than one ready pod: the
    decider starts in panic, as Knative's does after a restart)."""

    def __init__(self, settings: ScalingSettings, ready_pods: int = 0, now: float = 0.0) -> None:
        self.settings = settings
        window = (
            WeightedWindowAverage
            if settings.aggregation == "weighted-exponential"
            else WindowAverage
        )
        self._stable = window(settings.stable_window_s)
        self._panic = window(settings.panic_window_s)
        self.decider = Decider(settings, ready_pods, now)
        self._decision: ScaleDecision | None = None
        # The last decision's numbers; its `ScaleDecision` is built when asked for.
        self._decided: tuple[int, int, bool, float, float, int] | None = None

    @property
    def decision(self) -> ScaleDecision | None:
        """The last decision (None before the first)."""
        if self._decision is None and self._decided is not None:
            pods, ready_pods, panic_mode, stable, panic, excess = self._decided
            spec = self.settings
            self._decision = ScaleDecision(
                desired_pods=apply_bounds(spec.min_scale, spec.max_scale, pods),
                actual_pods=ready_pods,
                panic_mode=panic_mode,
                stable=stable,
                panic=panic,
                target=spec.target,
                excess_burst_capacity=float(excess),
                decided_pods=pods,
            )
        return self._decision

    def record(self, t: float, value: float) -> None:
        """One observation at time ``t``: the revision's average concurrency (or requests
        per second) over the scrape period ending then, summed over its pods."""
        self._stable.record(t, value)
        self._panic.record(t, value)

    def decide(self, now: float, ready_pods: int) -> ScaleDecision | None:
        """The decision at ``now`` with ``ready_pods`` ready; the previous decision (or
        None) when the stable window holds no data, as Knative keeps its last scale.
        (With an unlimited burst capacity Knative scrapes nothing and averages the
        activator's reports, so an empty window counts as 0.)"""
        self.decide_counts(now, ready_pods)
        return self.decision

    def decide_counts(self, now: float, ready_pods: int) -> tuple[int, int] | None:
        """`decide` for the hot loops: the decider's (pods, excess burst capacity)
        before min- and max-scale, or None when it kept its last decision (no data)."""
        stable = self._stable.average(now)
        if stable is None:
            if self.settings.target_burst_capacity != -1:
                return None
            stable = 0.0
        panic = self._panic.average(now) or 0.0
        decider = self.decider
        counts = decider.scale_counts(now, ready_pods, stable, panic)
        pods, excess = counts
        self._decided = (pods, ready_pods, decider.panic_time is not None, stable, panic, excess)
        self._decision = None
        return counts
