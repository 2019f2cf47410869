"""The what-if simulation without processes: scale to zero, cold starts, panic, bounds,
delays, and the reconciler's rules on their own."""

from __future__ import annotations

import itertools
import random

import pytest

from harness.autoscale.simulate import (
    _NUMPY_FROM,
    SimulationOptions,
    _added_delays_loop,
    _added_delays_numpy,
    added_delays,
    simulate,
)
from harness.autoscale.trace import Trace
from harness.knative.kpa_scaler import Activity, KpaScaler
from harness.knative.kpa_settings import AutoscalerConfig, ScalingSettings

A = "autoscaling.knative.dev/"
FAST = SimulationOptions(pod_start_s=2.0, service_time_s=0.1)


def settings(
    cc: int = 0, config: AutoscalerConfig | None = None, /, **anns: str
) -> ScalingSettings:
    resolved = ScalingSettings.from_revision({A + k: v for k, v in anns.items()}, cc, config)
    assert resolved is not None
    return resolved


def trace(values: list[float], kind: str = "rps") -> Trace:
    return Trace("test", "rps" if kind == "rps" else "concurrency", values)


def first(series: list[int], predicate: object, start: int = 0) -> int:
    for t in range(start, len(series)):
        if predicate(series[t]):  # type: ignore[operator]
            return t
    raise AssertionError("never")


def test_steady_concurrency_settles_at_load_over_target() -> None:
    run = simulate("b", settings(), trace([100.0] * 300, "concurrency"), FAST)
    # 100 in flight at target 70 per pod: 2 pods, no panic after the first decisions.
    assert run.series.desired_pods[-1] == 2 and run.series.ready_pods[-1] == 2
    assert run.summary.cold_starts == 0 and run.summary.max_pods == 2


def test_scale_to_zero_follows_the_activator_grace_and_retention() -> None:
    load = [50.0] * 30 + [0.0] * 300
    # Default burst capacity 211 > one pod's 100: the activator is in the path all along,
    # so once the stable window is empty (~90 s) and the PA was Active for a stable
    # window, it goes Inactive and its pod goes at once (Knative's fast path).
    run = simulate("b", settings(), trace(load, "concurrency"), FAST)
    zero = first(run.series.desired_pods, lambda n: n == 0, 30)
    assert 30 + 60 - 3 <= zero <= 30 + 60 + 3, zero
    # Burst capacity 0: the activator joins the path only when the PA wants 0 pods,
    # then the grace period (30 s) runs.
    graced = simulate(
        "g", settings(**{"target-burst-capacity": "0"}), trace(load, "concurrency"), FAST
    )
    zero_graced = first(graced.series.desired_pods, lambda n: n == 0, 30)
    assert 30 + 60 + 30 - 3 <= zero_graced <= 30 + 60 + 30 + 3, zero_graced
    retained = simulate(
        "r",
        settings(**{"scale-to-zero-pod-retention-period": "2m"}),
        trace(load, "concurrency"),
        FAST,
    )
    zero_retained = first(retained.series.desired_pods, lambda n: n == 0, 30)
    assert 30 + 60 + 120 - 3 <= zero_retained <= 30 + 60 + 120 + 3, zero_retained


def test_min_scale_and_disabled_scale_to_zero_keep_pods() -> None:
    idle = trace([0.0] * 400)
    kept = simulate("m", settings(**{"min-scale": "2"}), idle, FAST)
    assert min(kept.series.ready_pods[10:]) == 2
    no_zero = AutoscalerConfig(enable_scale_to_zero=False)
    one = simulate("z", settings(0, no_zero), idle, FAST)
    assert min(one.series.desired_pods) == 1 and one.summary.pod_seconds == 400


def test_requests_arriving_with_no_ready_pod_are_cold_starts() -> None:
    load = [0.0] * 200 + [100.0] * 60
    run = simulate("b", settings(), trace(load), SimulationOptions(4.0, 0.05))
    assert run.series.ready_pods[199] == 0
    # The first request pokes the autoscaler: a pod starts at once and is ready 4 s later;
    # everything that arrived meanwhile waited for it.
    assert run.summary.cold_starts == pytest.approx(400.0)
    assert 3000 <= run.summary.p99_added_delay_ms <= 4000
    assert max(run.series.activator_queue) > 0
    warm = simulate("w", settings(**{"min-scale": "1"}), trace(load), SimulationOptions(4.0, 0.05))
    assert warm.summary.cold_starts == 0


def test_activation_scale_wakes_at_least_that_many_pods() -> None:
    load = [0.0] * 200 + [1.0] * 30
    run = simulate("a", settings(**{"activation-scale": "3"}), trace(load, "concurrency"), FAST)
    assert max(run.series.desired_pods[200:]) == 3


def test_a_burst_panics_and_panic_never_scales_down() -> None:
    load = [10.0] * 120 + [700.0] * 20 + [10.0] * 200
    run = simulate("b", settings(), trace(load, "concurrency"), FAST)
    panic = [t for t, p in enumerate(run.series.panic) if p]
    assert panic and 120 <= panic[0] <= 126
    during = run.series.desired_pods[panic[0] : panic[-1] + 1]
    assert all(b >= a for a, b in itertools.pairwise(during))
    assert run.summary.max_pods >= 10
    # Panic ends a stable window after the load last asked for 2x the ready pods (early
    # in the burst, before the new pods were ready).
    assert 120 + 60 <= panic[-1] <= 140 + 60 + 4
    capped = simulate("c", settings(**{"max-scale": "4"}), trace(load, "concurrency"), FAST)
    assert capped.summary.max_pods == 4
    assert capped.summary.delayed_requests == 0  # no containerConcurrency: no queue


def test_container_concurrency_queues_what_the_pods_cannot_take() -> None:
    load = [0.0] * 5 + [400.0] * 30 + [0.0] * 60
    run = simulate("b", settings(10), trace(load), SimulationOptions(2.0, 0.1))
    # One pod takes 10 / 0.1 s = 100 requests/s; the rest wait until pods start.
    assert run.summary.delayed_requests > 0 and run.summary.p99_added_delay_ms > 100
    assert max(run.series.delay_ms) > 100


def test_scale_down_delay_costs_pod_seconds() -> None:
    load = [300.0] * 120 + [0.0] * 200
    plain = simulate("p", settings(), trace(load, "concurrency"), FAST)
    delayed = simulate(
        "d", settings(**{"scale-down-delay": "2m"}), trace(load, "concurrency"), FAST
    )
    assert delayed.summary.pod_seconds > plain.summary.pod_seconds
    assert delayed.series.desired_pods[200] >= plain.series.desired_pods[200]


def test_rps_metric_scales_on_requests_per_second() -> None:
    run = simulate("r", settings(metric="rps"), trace([700.0] * 200), FAST)
    assert run.series.desired_pods[-1] == 5  # 700 / (200 x 70%)


def test_added_delay_is_the_fifo_wait() -> None:
    delays, p99, delayed = added_delays([10.0, 0.0, 0.0], [0.0, 0.0, 10.0])
    assert delays[0] == pytest.approx(2.0)
    assert p99 == pytest.approx(2.0 + 0.375 - 0.375, abs=0.4) and delayed == 10.0
    none, p99_none, delayed_none = added_delays([5.0, 5.0], [5.0, 5.0])
    assert none == [0.0, 0.0] and p99_none == 0.0 and delayed_none == 0.0


def _fifo(arrivals: list[float], capacity: list[float]) -> list[float]:
    """What a FIFO queue in front of ``capacity`` per second serves each second."""
    queue, served = 0.0, []
    for a, c in zip(arrivals, capacity, strict=True):
        done = min(queue + a, c)
        queue = queue + a - done
        served.append(done)
    return served


@pytest.mark.parametrize("seed", range(6))
def test_added_delays_on_arrays_are_the_loops_bit_for_bit(seed: int) -> None:
    # Long traces take the numpy path: the same numbers as the loop, to the last bit,
    # with bursts the capacity cannot serve at once, idle seconds and huge totals.
    rng = random.Random(seed)
    n = _NUMPY_FROM + rng.randrange(5000)
    arrivals = [
        0.0 if rng.random() < 0.1 else rng.uniform(0, 10 ** rng.randint(0, 5)) for _ in range(n)
    ]
    for start in range(rng.randrange(300), n, 997):
        for t in range(start, min(n, start + rng.randint(1, 40))):
            arrivals[t] *= 8
    capacity = [rng.choice([0.0, 50.0, 2_000.0, 1e6]) for _ in range(n)]
    served = _fifo(arrivals, capacity)
    fast = _added_delays_numpy(arrivals, served)
    assert fast is not None and fast == _added_delays_loop(arrivals, served)
    assert fast == added_delays(arrivals, served)
    assert fast[1] > 0 and fast[2] > 0


def test_added_delays_without_the_arrays_shortcut_use_the_loop() -> None:
    arrivals = [1.0] * _NUMPY_FROM
    served = [1.0] * (_NUMPY_FROM - 1) + [-1.0]  # not a queue's output: no binary search
    assert _added_delays_numpy(arrivals, served) is None
    assert added_delays(arrivals, served) == _added_delays_loop(arrivals, served)


def test_reconciler_keeps_one_pod_until_active_for_a_stable_window() -> None:
    spec = settings()
    scaler = KpaScaler(spec, now=0.0)
    assert (scaler.replicas, scaler.activity) == (1, Activity.active)
    got = scaler.reconcile(10.0, 0, 0, 1)
    assert got.replicas == 1 and scaler.activity is Activity.active
    got = scaler.reconcile(60.0, 0, 0, 1)  # active for a stable window: mark Inactive
    assert got.replicas == 1 and scaler.activity is Activity.inactive and got.activator_in_path
    assert scaler.reconcile(89.0, 0, 0, 1).replicas == 1  # grace period not over
    assert scaler.reconcile(91.0, 0, 0, 1).replicas == 0
    woke = scaler.reconcile(100.0, 1, -200, 0)
    assert woke.replicas == 1 and scaler.activity is Activity.activating
    scaler.reconcile(102.0, 1, 5, 1)
    assert scaler.activity is Activity.active


def test_initial_scale_is_a_floor_until_reached_once() -> None:
    spec = settings(**{"initial-scale": "3"})
    scaler = KpaScaler(spec, now=0.0, replicas=0)
    scaler.initialized = False
    assert scaler.reconcile(1.0, 1, 0, 0).replicas == 3
    scaler.reconcile(2.0, 1, 0, 3)
    assert scaler.initialized
    assert scaler.reconcile(4.0, 1, 0, 3).replicas == 1
