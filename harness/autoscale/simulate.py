"""Replay a load trace through Knative's KPA, second by second: pods, panic, cold starts.

Pure: a `Trace` and `ScalingSettings` in, a `VariantRun` out. Each second ``t``:

1. pods whose start finished become ready (a pod takes ``pod_start_s``);
2. the second's requests arrive (a concurrency trace is turned into arrivals with
   Little's law, ``concurrency / service_time``); ready pods serve up to
   ``ready x containerConcurrency / service_time`` per second (no limit when
   containerConcurrency is 0), the rest wait in a FIFO queue: at the activator while it
   is in the path (the revision has no ready pod, or too little burst capacity), else
   in the pods' queue-proxies. A request that arrives with no ready pod is a cold start;
3. the KPA (`RevisionKpa`, the one model the emulator runs too) records what it would
   scrape (requests in flight, queued ones included, or requests per second), decides
   every 2 s, and at once when a revision decided to 0 pods gets a request (the
   activator's poke), and its reconciler turns the decision into replicas with min-,
   max- and initial-scale and the scale-to-zero rules;
4. new pods start, surplus pods go at once.

Added delay is the fluid FIFO wait (arrival to start of service) of each second's
arrivals, read at four points of the cohort; p99 is over all requests.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import operator
from dataclasses import dataclass, field

from harness.autoscale.trace import Trace
from harness.knative.kpa_revision import KpaStep, RevisionKpa
from harness.knative.kpa_settings import ScalingSettings

DELAYED_S = 0.001  # a request waiting longer than this counts as delayed
_POINTS = 4  # points per second's cohort for the delay distribution
_HALVES = tuple(k + 0.5 for k in range(_POINTS))
_NUMPY_FROM = 2048  # seconds from which `added_delays` works on arrays


@dataclass(frozen=True)
class SimulationOptions:
    """How pods and requests behave: pod start time and mean service time (seconds)."""

    pod_start_s: float = 2.0
    service_time_s: float = 0.1


@dataclass
class VariantSeries:
    """Per-second values of one variant (index = second since the trace began)."""

    t: list[int] = field(default_factory=list)
    demand: list[float] = field(default_factory=list)
    desired_pods: list[int] = field(default_factory=list)
    ready_pods: list[int] = field(default_factory=list)
    panic: list[bool] = field(default_factory=list)
    activator_queue: list[float] = field(default_factory=list)
    cold_starts: list[float] = field(default_factory=list)
    delay_ms: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[float] | list[int] | list[bool]]:
        return {
            "t": self.t,
            "demand": [round(v, 3) for v in self.demand],
            "desired_pods": self.desired_pods,
            "ready_pods": self.ready_pods,
            "panic": self.panic,
            "activator_queue": [round(v, 3) for v in self.activator_queue],
            "cold_starts": [round(v, 3) for v in self.cold_starts],
            "delay_ms": [round(v, 2) for v in self.delay_ms],
        }


@dataclass(frozen=True)
class Summary:
    """One variant's totals: the cost (pod-seconds, starting pods included) and what
    users felt (cold starts, delayed requests, p99 of the added delay)."""

    max_pods: int
    pod_seconds: float
    panic_seconds: int
    cold_starts: float
    delayed_requests: float
    p99_added_delay_ms: float
    requests: float

    def to_dict(self) -> dict[str, float | int]:
        return {
            "max_pods": self.max_pods,
            "pod_seconds": round(self.pod_seconds, 1),
            "panic_seconds": self.panic_seconds,
            "cold_starts": round(self.cold_starts, 1),
            "delayed_requests": round(self.delayed_requests, 1),
            "p99_added_delay_ms": round(self.p99_added_delay_ms, 1),
            "requests": round(self.requests, 1),
        }


@dataclass(frozen=True)
class VariantRun:
    """One variant's simulation."""

    name: str
    settings: ScalingSettings
    options: SimulationOptions
    series: VariantSeries
    summary: Summary
    steps: tuple[KpaStep, ...] = ()  # every KPA step, with ``keep_steps``


def simulate(
    name: str,
    settings: ScalingSettings,
    trace: Trace,
    options: SimulationOptions,
    *,
    keep_steps: bool = False,
) -> VariantRun:
    """Replay ``trace`` through the KPA with ``settings``; see the module doc.
    ``keep_steps`` keeps the model's every step in the run (tests)."""
    service = options.service_time_s
    pod_start_s = options.pod_start_s
    cc = settings.container_concurrency
    per_pod = cc / service if cc > 0 else math.inf  # requests a ready pod serves per second
    kpa = RevisionKpa(settings, 0.0, keep_steps=keep_steps)
    observe = kpa.observe
    scaler = kpa.scaler  # its ``proxy``: the activator is in the path
    decider = kpa.model.decider  # its ``in_panic``
    ready = kpa.replicas
    # Ready times of pods still starting, ascending (each started pod_start_s after its
    # second, and surplus pods go from the newest): the ready ones are a prefix.
    starting: list[float] = []
    queue = 0.0
    values = trace.values
    n = len(values)
    series = VariantSeries(t=list(range(n)), demand=list(values))
    desired_pods = series.desired_pods
    ready_pods = series.ready_pods
    panic = series.panic
    activator_queue = series.activator_queue
    cold_starts = series.cold_starts
    arrivals: list[float] = []
    served: list[float] = []
    pod_seconds = 0.0
    by_rps = settings.metric == "rps"
    concurrency_trace = trace.kind == "concurrency"
    for t in range(n):
        now = float(t)
        if starting and starting[0] <= now:
            became_ready = bisect.bisect_right(starting, now)
            ready += became_ready
            del starting[:became_ready]
        value = values[t]
        arriving = value / service if concurrency_trace else value
        capacity = ready * per_pod if ready else 0.0
        available = queue + arriving
        done = available if available <= capacity else capacity
        cold = arriving if ready == 0 else 0.0
        in_activator = scaler.proxy or ready == 0
        queue = available - done
        arrivals.append(arriving)
        served.append(done)
        # What the autoscaler sees over this second: scraped from the pods and reported
        # by the activator (the model pokes itself when the activator is in the path).
        observed = arriving if by_rps else done * service + queue
        replicas = observe(now, observed, ready)
        running = ready + len(starting)
        if replicas > running:
            starting += [now + pod_start_s] * (replicas - running)
        elif replicas < running:
            surplus = running - replicas
            drop = min(surplus, len(starting))
            if drop:
                del starting[len(starting) - drop :]
            ready -= surplus - drop
        pod_seconds += ready + len(starting)
        desired_pods.append(replicas)
        ready_pods.append(ready)
        panic.append(decider.panic_time is not None)
        activator_queue.append(queue if in_activator else 0.0)
        cold_starts.append(cold)
    delays, p99, delayed = added_delays(arrivals, served)
    series.delay_ms = [d * 1000 for d in delays]
    summary = Summary(
        max_pods=max(series.desired_pods, default=0),
        pod_seconds=pod_seconds,
        panic_seconds=sum(series.panic),
        cold_starts=sum(series.cold_starts),
        delayed_requests=delayed,
        p99_added_delay_ms=p99 * 1000,
        requests=sum(arrivals),
    )
    return VariantRun(name, settings, options, series, summary, tuple(kpa.steps or ()))


def added_delays(arrivals: list[float], served: list[float]) -> tuple[list[float], float, float]:
    """The FIFO wait of each second's arrivals (mean over the cohort, seconds), the p99
    wait over all requests, and how many requests waited longer than `DELAYED_S`.

    Requests arrive evenly within their second and are served evenly within the second
    that serves them, in arrival order (cumulative arrivals against cumulative service).
    Long traces take `_added_delays_numpy`, the same arithmetic on arrays.
    """
    if len(arrivals) >= _NUMPY_FROM and len(served) == len(arrivals):
        result = _added_delays_numpy(arrivals, served)
        if result is not None:
            return result
    return _added_delays_loop(arrivals, served)


def _added_delays_loop(
    arrivals: list[float], served: list[float]
) -> tuple[list[float], float, float]:
    """`added_delays`, one second at a time."""
    n = len(arrivals)
    cum_served = list(itertools.accumulate(served, initial=0.0))
    per_second: list[float] = [0.0] * n
    samples: list[tuple[float, float]] = []
    delayed = 0.0
    on_time = 0.0  # requests served in the second they arrived, behind no queue
    before = 0.0  # cumulative arrivals before this second
    j = 0  # the second whose service reaches the request
    for t in range(n):
        a = arrivals[t]
        if a <= 0:
            continue
        if cum_served[t] >= before - 1e-9 and cum_served[t + 1] >= before + a - 1e-9:
            on_time += a  # no wait: skip the points (the common case)
            before += a
            continue
        weight = a / _POINTS
        total = 0.0
        for half in _HALVES:  # k + 0.5 for the cohort's points k
            number = before + a * half / _POINTS
            arrived = t + half / _POINTS
            while j < n and cum_served[j + 1] < number - 1e-9:
                j += 1
            if j >= n:
                wait = n - arrived  # still waiting when the trace ends
            else:
                step = served[j]
                within = (number - cum_served[j]) / step if step > 0 else 0.0
                # max(0, j + min(max(within, 0), 1) - arrived), without the calls
                if within < 0.0:
                    within = 0.0
                elif within > 1.0:
                    within = 1.0
                wait = j + within - arrived
                if not wait > 0.0:
                    wait = 0.0
            total += wait
            samples.append((wait, weight))
            if wait > DELAYED_S:
                delayed += weight
        per_second[t] = total / _POINTS
        before += a
    return per_second, _weighted_quantile(samples, 0.99, on_time), delayed


def _weighted_quantile(samples: list[tuple[float, float]], q: float, zeros: float = 0.0) -> float:
    """The q-quantile of weighted values, ``zeros`` more weight sitting at 0."""
    if not samples:
        return 0.0
    samples.sort()
    total = sum(w for _, w in samples) + zeros
    goal = q * total
    seen = zeros
    if seen >= goal:
        return 0.0
    for value, weight in samples:
        seen += weight
        if seen >= goal:
            return value
    return samples[-1][0]


def _added_delays_numpy(
    arrivals: list[float], served: list[float]
) -> tuple[list[float], float, float] | None:
    """`_added_delays_loop` on arrays, bit for bit: the same IEEE operations in the same
    order (running sums by `itertools.accumulate`, sums of many values in order by
    `functools.reduce`); None when its shortcut does not hold (negative or non-finite
    values), the loop then decides.

    The loop's pointer to the second that serves a request only moves forward, and the
    request numbers and the cumulative service only grow (values >= 0), so it is the
    first second whose cumulative service reaches the number: a binary search."""
    import numpy as np  # here: only long traces need it

    arr = np.array(arrivals, dtype=float)
    srv = np.array(served, dtype=float)
    if not (np.isfinite(arr).all() and np.isfinite(srv).all() and (srv >= 0).all()):
        return None
    n = len(arrivals)
    positive = arr > 0
    # cumulative arrivals before each second (seconds without arrivals add nothing) and
    # cumulative service; numpy's running sum adds one value after the other, as the loop
    before = np.concatenate(([0.0], np.cumsum(np.where(positive, arr, 0.0))))
    cum = np.concatenate(([0.0], np.cumsum(srv)))
    on_time_mask = positive & (cum[:-1] >= before[:-1] - 1e-9) & (cum[1:] >= before[1:] - 1e-9)
    on_time = functools.reduce(operator.add, arr[on_time_mask].tolist(), 0.0)
    slow = np.flatnonzero(positive & ~on_time_mask)
    per_second = np.zeros(n)
    if not len(slow):
        return per_second.tolist(), 0.0, 0.0
    halves = np.array(_HALVES)
    a = arr[slow][:, None]
    numbers = before[slow][:, None] + a * halves / _POINTS
    arrived = slow[:, None] + halves / _POINTS
    j = np.searchsorted(cum[1:], numbers - 1e-9, side="left")
    inside = j < n
    jj = np.where(inside, j, 0)
    step = srv[jj]
    with np.errstate(divide="ignore", invalid="ignore"):
        within = np.where(step > 0, (numbers - cum[jj]) / step, 0.0)
    within = np.where(within < 0.0, 0.0, np.where(within > 1.0, 1.0, within))
    waits = jj + within - arrived
    waits = np.where(waits > 0.0, waits, 0.0)
    waits = np.where(inside, waits, n - arrived)
    per_second[slow] = (((waits[:, 0] + waits[:, 1]) + waits[:, 2]) + waits[:, 3]) / _POINTS
    weights = np.broadcast_to(arr[slow][:, None] / _POINTS, waits.shape).ravel()
    flat = waits.ravel()
    delayed = functools.reduce(operator.add, weights[flat > DELAYED_S].tolist(), 0.0)
    order = np.lexsort((weights, flat))
    p99 = _quantile_sorted(flat[order].tolist(), weights[order].tolist(), 0.99, on_time)
    return per_second.tolist(), p99, delayed


def _quantile_sorted(values: list[float], weights: list[float], q: float, zeros: float) -> float:
    """`_weighted_quantile` of samples already sorted (by value, then weight)."""
    total = sum(weights) + zeros
    goal = q * total
    if zeros >= goal:
        return 0.0
    seen = list(itertools.accumulate(weights, initial=zeros))
    index = bisect.bisect_left(seen, goal, 1)
    return values[index - 1] if index < len(seen) else values[-1]
