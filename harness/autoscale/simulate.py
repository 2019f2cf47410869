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

import math
from dataclasses import dataclass, field

from harness.autoscale.trace import Trace
from harness.knative.kpa_revision import KpaStep, RevisionKpa
from harness.knative.kpa_settings import ScalingSettings

DELAYED_S = 0.001  # a request waiting longer than this counts as delayed
_POINTS = 4  # points per second's cohort for the delay distribution


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
    cc = settings.container_concurrency
    per_pod = cc / service if cc > 0 else math.inf  # requests a ready pod serves per second
    kpa = RevisionKpa(settings, 0.0, keep_steps=keep_steps)
    ready = kpa.replicas
    starting: list[float] = []  # ready times of pods still starting
    queue = 0.0
    series = VariantSeries()
    arrivals: list[float] = []
    served: list[float] = []
    pod_seconds = 0.0
    by_rps = settings.metric == "rps"
    concurrency_trace = trace.kind == "concurrency"
    values = trace.values
    for t in range(len(values)):
        now = float(t)
        if starting:
            still = [s for s in starting if s > now]
            ready += len(starting) - len(still)
            starting = still
        value = values[t]
        arriving = value / service if concurrency_trace else value
        capacity = ready * per_pod if ready else 0.0
        available = queue + arriving
        done = available if available <= capacity else capacity
        cold = arriving if ready == 0 else 0.0
        in_activator = kpa.activator_in_path or ready == 0
        queue = available - done
        arrivals.append(arriving)
        served.append(done)
        # What the autoscaler sees over this second: scraped from the pods and reported
        # by the activator (the model pokes itself when the activator is in the path).
        observed = arriving if by_rps else done * service + queue
        replicas = kpa.observe(now, observed, ready)
        running = ready + len(starting)
        if replicas > running:
            starting += [now + options.pod_start_s] * (replicas - running)
        elif replicas < running:
            surplus = running - replicas
            drop = min(surplus, len(starting))
            if drop:
                starting = starting[: len(starting) - drop]
            ready -= surplus - drop
        pod_seconds += ready + len(starting)
        series.t.append(t)
        series.demand.append(value)
        series.desired_pods.append(replicas)
        series.ready_pods.append(ready)
        series.panic.append(kpa.in_panic)
        series.activator_queue.append(queue if in_activator else 0.0)
        series.cold_starts.append(cold)
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
    """
    n = len(arrivals)
    cum_served = [0.0] * (n + 1)
    for i, s in enumerate(served):
        cum_served[i + 1] = cum_served[i] + s
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
        for k in range(_POINTS):
            number = before + a * (k + 0.5) / _POINTS
            arrived = t + (k + 0.5) / _POINTS
            while j < n and cum_served[j + 1] < number - 1e-9:
                j += 1
            if j >= n:
                wait = n - arrived  # still waiting when the trace ends
            else:
                step = served[j]
                within = (number - cum_served[j]) / step if step > 0 else 0.0
                wait = max(0.0, j + min(max(within, 0.0), 1.0) - arrived)
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
