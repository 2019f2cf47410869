"""Scaling rules without revision processes: bounds, scale-down-delay, per-pod sums."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from aiohttp import web

from harness.knative.kpa import KpaModel, ScaleDecision
from harness.knative.kpa_settings import AutoscalerConfig, ScalingSettings, revision_scale
from harness.local.autoscaler import Autoscaler, ScaledPod, ScaledRevision
from harness.local.dataplane import RevisionSpec, initial_pods
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


def test_a_revision_starts_with_its_initial_scale_capped_at_max_pods() -> None:
    def initial(max_pods: int, initial_scale: int = 1, scale_to_zero: bool = False) -> int:
        spec = RevisionSpec("default", "s", "s", "s-a", initial_scale=initial_scale)
        return initial_pods(spec, max_pods, scale_to_zero)

    assert initial(1, initial_scale=3) == 1  # the default: one pod
    assert initial(3) == 1
    assert initial(5, initial_scale=4) == 4  # min-scale is the KPA model's, not here
    assert initial(3, initial_scale=5) == 3  # max-pods caps it
    assert initial(3, initial_scale=0) == 1  # no activator without scale to zero
    assert initial(3, initial_scale=0, scale_to_zero=True) == 0


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


def test_observed_concurrency_is_summed_over_ready_pods_and_replicas_are_handed_on() -> None:
    in_flight = {"a": 2, "b": 3, "c": 100}  # c is not ready: it must not count
    now = [0.0]

    async def run() -> tuple[list[tuple[str, str, int]], ScaleDecision | None]:
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
        replicas: list[tuple[str, str, int]] = []
        autoscaler = Autoscaler(
            lambda: [revision],
            scrape_interval_s=3600.0,  # one scrape by the loop, at start; then ours
            clock=lambda: now[0],
            on_decision=lambda ns, name, count: replicas.append((ns, name, count)),
        )
        await autoscaler.start()
        try:
            while not replicas:
                await asyncio.sleep(0.01)
            assert autoscaler.gauges() == []  # no decision before the first 2 s tick
            for second in (1.0, 2.0):  # a scrape a second; the tick is due at 2 s
                now[0] = second
                await autoscaler.scrape_once()
            decision = autoscaler.gauges()[0].decision
        finally:
            await autoscaler.close()
            for server in servers.values():
                server.close()
        return replicas, decision

    replicas, decision = asyncio.run(run())
    assert decision is not None
    assert (decision.stable, decision.actual_pods, decision.desired_pods) == (5.0, 2, 5)
    # The model started with the 3 pods running and keeps them until it decides 5.
    assert replicas == [("default", "s-a", 3)] * 2 + [("default", "s-a", 5)]
