"""Scaling rules without revision processes: bounds, scale-down-delay, per-pod sums."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from aiohttp import web

from harness.knative.kpa import KpaModel, ScaleDecision
from harness.knative.kpa_settings import AutoscalerConfig, ScalingSettings, revision_scale
from harness.local.autoscaler import Autoscaler, ScaledPod, ScaledRevision
from harness.local.dataplane import RevisionSpec, scale_bounds
from harness.local.revision import STATS_PATH

A = "autoscaling.knative.dev/"


def test_revision_scale_reads_min_max_and_initial_scale_with_knative_defaults() -> None:
    assert revision_scale({}) == (0, 0, 1)
    scaled = {A + "minScale": "2", A + "max-scale": "5", A + "initial-scale": "3"}
    assert revision_scale(scaled) == (2, 5, 3)
    assert revision_scale({A + "min-scale": "4", A + "max-scale": "2"}) == (4, 0, 1)  # invalid max
    # initial-scale 0 needs the cluster's allow-zero-initial-scale (GetInitialScale).
    assert revision_scale({A + "initial-scale": "0"}) == (0, 0, 1)
    allow_zero = AutoscalerConfig(allow_zero_initial_scale=True)
    assert revision_scale({A + "initial-scale": "0"}, allow_zero) == (0, 0, 0)


def test_scale_bounds_keep_at_least_one_pod_and_at_most_max_pods() -> None:
    def bounds(
        max_pods: int, min_scale: int = 0, max_scale: int = 0, initial_scale: int = 1
    ) -> tuple[int, int, int]:
        spec = RevisionSpec(
            "default",
            "s",
            "s",
            "s-a",
            min_scale=min_scale,
            max_scale=max_scale,
            initial_scale=initial_scale,
        )
        return scale_bounds(spec, max_pods)

    assert bounds(1, min_scale=3, initial_scale=3) == (1, 1, 1)  # the default: one pod
    assert bounds(3) == (1, 3, 1)
    assert bounds(3, min_scale=2) == (2, 3, 2)
    assert bounds(5, max_scale=2, initial_scale=4) == (1, 2, 2)
    assert bounds(3, min_scale=5) == (3, 3, 3)  # max-pods caps min-scale too
    assert bounds(3, initial_scale=0) == (1, 3, 1)  # no scale to zero


def test_scale_down_delay_holds_the_highest_count_decided_within_it() -> None:
    annotations = {A + "target-utilization-percentage": "100", A + "scale-down-delay": "10s"}
    spec = ScalingSettings.from_revision({**annotations, A + "window": "6s"}, 1)
    assert spec is not None and spec.scale_down_delay_s == 10.0
    model = KpaModel(spec)
    for t in range(10):
        model.record(t + 0.5, 4.0)  # 4 pods' worth
    busy = model.decide(9.9, 4)
    assert busy is not None and busy.desired_pods == 4
    for t in range(10, 20):
        model.record(t + 0.5, 0.0)
    # Idle for a whole window, yet within the delay of the busy decision: still 4. (The
    # delay window counts 2 s buckets: 9.9 s is bucket 4, 17.6 s bucket 8, 4 < 10 s / 2 s.)
    held = model.decide(17.6, 4)
    assert held is not None and held.stable == 0 and held.desired_pods == 4
    for t in range(20, 22):
        model.record(t + 0.5, 0.0)
    # The delay has passed: the rate limit allows half the ready pods per decision.
    after = model.decide(21.6, 4)
    assert after is not None and after.desired_pods == 2


def test_observed_concurrency_is_summed_over_ready_pods_and_decisions_are_handed_on() -> None:
    in_flight = {"a": 2, "b": 3, "c": 100}  # c is not ready: it must not count

    async def run() -> tuple[list[tuple[str, str, ScaleDecision]], ScaleDecision | None]:
        loop = asyncio.get_running_loop()
        servers = {}
        for pod, count in in_flight.items():

            async def stats(request: web.BaseRequest, count: int = count) -> web.Response:
                assert request.path == STATS_PATH
                body: Mapping[str, float] = {
                    "t": 1.0,
                    "in_flight": count,
                    "requests": 0,
                    "concurrency_seconds": 0.0,
                }
                return web.json_response(dict(body))

            servers[pod] = await loop.create_server(web.Server(stats), "127.0.0.1", 0)
        pods = tuple(
            ScaledPod(
                f"s-a-{pod}",
                f"127.0.0.1:{server.sockets[0].getsockname()[1]}",
                ready=pod != "c",
            )
            for pod, server in servers.items()
        )
        revision = ScaledRevision(
            "default",
            "s",
            "s",
            "s-a",
            pods,
            {A + "target-utilization-percentage": "100"},
            container_concurrency=1,
        )
        decisions: list[tuple[str, str, ScaleDecision]] = []
        autoscaler = Autoscaler(
            lambda: [revision],
            scrape_interval_s=60.0,  # one scrape, at start
            tick_interval_s=60.0,
            on_decision=lambda ns, name, d: decisions.append((ns, name, d)),
        )
        await autoscaler.start()
        try:
            while not autoscaler.gauges():
                await asyncio.sleep(0.01)
            first = autoscaler.gauges()[0].decision
            autoscaler.tick()
        finally:
            await autoscaler.close()
            for server in servers.values():
                server.close()
        return decisions, first

    decisions, first = asyncio.run(run())
    assert first is not None
    assert (first.stable, first.actual_pods, first.desired_pods) == (5.0, 2, 5)
    assert [(ns, name, d.desired_pods) for ns, name, d in decisions] == [("default", "s-a", 5)]
