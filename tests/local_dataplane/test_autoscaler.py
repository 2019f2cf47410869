"""The emulator's KPA model without processes: settings, windows, clamping, panic mode."""

from __future__ import annotations

import asyncio
import json

import pytest

from harness.knative.kpa import KpaModel, ScaleDecision
from harness.knative.kpa_settings import ScalingSettings
from harness.knative.kpa_windows import WindowAverage
from harness.local.autoscaler import dataplane_revisions, observed_value
from harness.local.autoscaler_gauges import RevisionGauges, render_gauges
from harness.local.prometheus import MetricsTarget
from harness.local.revision import ConcurrencyStats
from tests.local_dataplane.promtext import parse, value

A = "autoscaling.knative.dev/"


def settings(**annotations: str) -> ScalingSettings:
    resolved = ScalingSettings.from_revision({A + k: v for k, v in annotations.items()})
    assert resolved is not None
    return resolved


def test_target_is_containerconcurrency_or_100_times_utilization() -> None:
    assert ScalingSettings.from_revision({}).target == pytest.approx(70.0)  # type: ignore[union-attr]
    cc1 = ScalingSettings.from_revision({}, container_concurrency=1)
    assert cc1 is not None and cc1.target == pytest.approx(0.7) and cc1.total == 1
    # The annotated target wins, capped at containerConcurrency when that is set.
    capped = ScalingSettings.from_revision({A + "target": "10"}, container_concurrency=4)
    assert capped is not None and capped.total == 4 and capped.target == pytest.approx(2.8)
    full = settings(target="10", **{"target-utilization-percentage": "100"})
    assert full.target == 10
    # camelCase alias, and kebab-case wins when both are set.
    alias = settings(targetUtilizationPercentage="50", **{"target-utilization-percentage": "20"})
    assert alias.target == pytest.approx(20.0)
    assert settings(target="0.001").target == pytest.approx(70.0)  # invalid: default


def test_windows_and_threshold_follow_the_annotations() -> None:
    default = settings()
    assert (default.stable_window_s, default.panic_window_s, default.panic_threshold) == (
        60.0,
        6.0,
        2.0,
    )
    custom = settings(window="20s", **{"panic-window-percentage": "25"})
    assert (custom.stable_window_s, custom.panic_window_s) == (20.0, 5.0)
    assert settings(window="6s").panic_window_s == 1.0  # never below one bucket
    assert settings(window="2s").stable_window_s == 60.0  # below Knative's 6 s minimum
    assert settings(**{"panic-threshold-percentage": "300"}).panic_threshold == 3.0
    assert ScalingSettings.from_revision({A + "class": "hpa.autoscaling.knative.dev"}) is None
    assert settings(metric="rps").target == pytest.approx(140.0)


def test_window_average_covers_only_the_part_with_data() -> None:
    window = WindowAverage(10.0)
    assert window.average(0.0) is None
    window.record(100.2, 4.0)
    window.record(101.5, 2.0)
    # Started 2 buckets ago: averaged over those 2, not over 10.
    assert window.average(101.9) == 3.0
    # Data stopped at 101: the average covers the window up to the newest data.
    assert window.average(105.0) == 3.0
    for t in range(102, 115):
        window.record(t + 0.5, 1.0)
    assert window.average(114.9) == 1.0  # the first values slid out
    # A gap within the window counts as zeros; a whole empty window starts afresh.
    window.record(120.5, 11.0)
    assert window.average(120.9) == pytest.approx((1.0 * 4 + 11.0) / 10)
    assert window.average(131.0) is None
    window.record(140.5, 5.0)
    assert window.average(140.9) == 5.0


def feed(model: KpaModel, start: float, end: float, concurrency: float) -> None:
    t = start
    while t < end:
        model.record(t, concurrency)
        t += 1.0


def test_desired_pods_is_observed_over_target_rounded_up() -> None:
    model = KpaModel(settings(target="10", **{"target-utilization-percentage": "100"}))
    assert model.decide(0.0, 1) is None  # no data yet
    feed(model, 0.5, 30.5, 25.0)
    decision = model.decide(30.6, 1)
    assert decision is not None
    assert (decision.stable, decision.panic, decision.target) == (25.0, 25.0, 10.0)
    # ceil(25 / 10) = 3 pods, and 3 / 1 ready >= 200%: panic mode.
    assert decision.desired_pods == 3 and decision.panic_mode and decision.actual_pods == 1


def test_desired_pods_is_kept_within_min_and_max_scale() -> None:
    busy = KpaModel(settings(**{"max-scale": "3", "target-utilization-percentage": "100"}))
    feed(busy, 0.5, 20.5, 1000.0)  # 10 pods' worth at target 100
    decision = busy.decide(20.6, 1)
    assert decision is not None and decision.desired_pods == 3
    idle = KpaModel(settings(**{"min-scale": "2"}))
    feed(idle, 0.5, 20.5, 0.0)
    decision = idle.decide(20.6, 1)
    assert decision is not None and decision.desired_pods == 2
    # Without min-scale an idle revision is wanted at zero pods (Knative scales it to zero).
    zero = KpaModel(settings())
    feed(zero, 0.5, 20.5, 0.0)
    decision = zero.decide(20.6, 1)
    assert decision is not None and decision.desired_pods == 0 and not decision.panic_mode


def test_scale_up_is_limited_to_1000_times_the_ready_pods() -> None:
    model = KpaModel(settings(target="0.01", **{"target-utilization-percentage": "100"}))
    feed(model, 0.5, 10.5, 100.0)
    decision = model.decide(10.6, 1)
    assert decision is not None and decision.desired_pods == 1000


def test_panic_mode_holds_the_count_until_a_stable_window_passes_below_threshold() -> None:
    spec = settings(window="20s", **{"target-utilization-percentage": "100"})
    model = KpaModel(spec)  # target 100, panic window 2 s
    feed(model, 0.5, 10.5, 10.0)
    calm = model.decide(10.6, 1)
    assert calm is not None and not calm.panic_mode and calm.desired_pods == 1
    feed(model, 10.5, 12.5, 450.0)  # a burst: 5 pods' worth in the panic window
    burst = model.decide(12.6, 1)
    assert burst is not None and burst.panic_mode and burst.desired_pods == 5
    # The burst ends: below the threshold, but panic lasts a stable window, never going down.
    feed(model, 12.5, 20.5, 10.0)
    held = model.decide(20.6, 1)
    assert held is not None and held.panic_mode and held.desired_pods == 5
    feed(model, 20.5, 33.5, 10.0)
    calm_again = model.decide(33.6, 1)
    assert calm_again is not None and not calm_again.panic_mode
    assert calm_again.desired_pods == 1


def test_excess_burst_capacity_follows_knative() -> None:
    model = KpaModel(settings(**{"target-burst-capacity": "50"}))
    feed(model, 0.5, 5.5, 20.0)
    decision = model.decide(5.6, 1)
    assert decision is not None and decision.excess_burst_capacity == 100 - 50 - 20
    unlimited = KpaModel(settings(**{"target-burst-capacity": "-1"}))
    feed(unlimited, 0.5, 5.5, 20.0)
    assert unlimited.decide(5.6, 1) == ScaleDecision(1, 1, False, 20.0, 20.0, 70.0, -1.0)


def test_observed_value_is_the_time_weighted_average_between_two_stats() -> None:
    clock = iter([0.0, 0.0, 0.5, 1.0, 2.0]).__next__
    stats = ConcurrencyStats(clock)  # t=0
    stats.enter()  # t=0: 1 in flight
    stats.enter()  # t=0.5: 2 in flight
    stats.leave()  # t=1.0: 1 in flight
    snapshot = stats.snapshot()  # t=2.0
    assert snapshot == {"t": 2.0, "in_flight": 1, "requests": 2, "concurrency_seconds": 2.5}
    before = {"t": 0.0, "in_flight": 0, "requests": 0, "concurrency_seconds": 0.0}
    assert observed_value(before, snapshot, "concurrency") == 1.25
    assert observed_value(before, snapshot, "rps") == 1.0
    assert observed_value(None, snapshot, "concurrency") is None
    restarted = {**before, "t": 0.5, "concurrency_seconds": 0.1}
    assert observed_value(snapshot, restarted, "concurrency") is None


@pytest.mark.parametrize("schema", ["legacy", "otel"])
def test_gauges_render_with_knatives_names_and_labels(schema: str) -> None:
    decision = ScaleDecision(4, 1, True, 3.5, 3.9, 1.0, -212.0)
    gauges = [RevisionGauges("default", "hello", "hello", "hello-v1", "concurrency", decision)]
    samples = parse(render_gauges(gauges, "otel" if schema == "otel" else "legacy"))
    if schema == "legacy":
        labels = {"namespace_name": "default", "revision_name": "hello-v1"}
        names = {
            "autoscaler_desired_pods": 4,
            "autoscaler_actual_pods": 1,
            "autoscaler_panic_mode": 1,
            "autoscaler_stable_request_concurrency": 3.5,
            "autoscaler_panic_request_concurrency": 3.9,
            "autoscaler_target_concurrency_per_pod": 1,
            "autoscaler_excess_burst_capacity": -212,
        }
        assert samples[0].labels == {
            "configuration_name": "hello",
            "namespace_name": "default",
            "revision_name": "hello-v1",
            "service_name": "hello",
        }
    else:
        labels = {"k8s_namespace_name": "default", "kn_revision_name": "hello-v1"}
        names = {
            "kn_revision_pods_desired": 4,
            "kn_revision_pods_count": 1,
            "kn_revision_panic_mode": 1,
            "kn_revision_concurrency_stable": 3.5,
            "kn_revision_concurrency_panic": 3.9,
            "kn_revision_concurrency_target": 1,
            "kn_revision_capacity_excess": -212,
        }
        assert samples[0].labels["kn_service_name"] == "hello"
        assert samples[0].labels["otel_scope_name"] == "knative.dev/serving/pkg/autoscaler"
    assert {s.name: s.value for s in samples} == names
    for name, expected in names.items():
        assert value(samples, name, **labels) == expected
    assert render_gauges([], "legacy") == ""


def test_the_revision_process_serves_its_stats(tmp_path: object) -> None:
    """``/stats`` on the metrics port: JSON the autoscaler reads, cumulative counters."""
    import aiohttp

    from harness.local.app import AppKnobs, SampleApp
    from harness.local.metrics import RevisionIdentity
    from harness.local.revision import STATS_PATH, QueueProxyFront, QueueSettings

    async def run() -> dict[str, float]:
        ready = asyncio.Event()
        ready.set()
        identity = RevisionIdentity("default", "hello", "hello", "hello-v1", "pod")
        front = QueueProxyFront(
            SampleApp(AppKnobs(latency_ms=0)),
            QueueSettings(identity, 0, "legacy", "127.0.0.1"),
            ready,
        )
        from aiohttp import web

        loop = asyncio.get_running_loop()
        serving = await loop.create_server(web.Server(front.handle), "127.0.0.1", 0)
        metrics = await loop.create_server(web.Server(front.serve_metrics), "127.0.0.1", 0)
        port = serving.sockets[0].getsockname()[1]
        metrics_port = metrics.sockets[0].getsockname()[1]
        try:
            async with aiohttp.ClientSession() as session:
                for _ in range(3):
                    async with session.get(f"http://127.0.0.1:{port}/") as response:
                        await response.read()
                async with session.get(f"http://127.0.0.1:{metrics_port}{STATS_PATH}") as response:
                    return json.loads(await response.text())
        finally:
            serving.close()
            metrics.close()

    stats = asyncio.run(run())
    assert stats["requests"] == 3 and stats["in_flight"] == 0
    assert stats["concurrency_seconds"] >= 0 and stats["t"] > 0


def test_a_revision_scaled_to_zero_stays_listed_with_no_pods_until_it_is_removed() -> None:
    target = MetricsTarget("default", "hello", "hello", "hello-a", "hello-a-pod", "127.0.0.1:1")
    targets: list[MetricsTarget] = [target]
    supervised = [("default", "hello-a")]
    source = dataplane_revisions(
        lambda: targets,
        lambda: [],
        lambda namespace, name: {"spec": {"containerConcurrency": 1}},
        lambda: supervised,
    )
    (listed,) = source()
    assert listed.name == "hello-a" and len(listed.pods) == 1 and listed.service == "hello"
    targets.clear()  # its last pod stopped: scaled to zero
    (listed,) = source()
    assert listed.pods == () and listed.container_concurrency == 1
    supervised.clear()  # the revision is gone
    assert source() == []
