"""The emulator and the simulator run one KPA model, not two.

A trace with a ramp, a spike (panic), a scale-down delay, an idle stretch long enough to
scale to zero, and a wake-up through the activator is simulated with
`harness.autoscale.simulate`. The emulator's autoscaler loop (`harness.local.autoscaler`,
the code the daemon runs) is then fed the same observations, second by second, through
real ``/stats`` endpoints on loopback, and its revision's ready pods and activator queue
set as the simulation had them. Both must have used the same class and made the same
decision at every step (scale, panic, replicas, activator in the path).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping

from aiohttp import web

from harness.autoscale.simulate import SimulationOptions, simulate
from harness.autoscale.trace import Trace
from harness.knative.kpa_revision import KpaStep, RevisionKpa
from harness.knative.kpa_settings import AutoscalerConfig, ScalingSettings
from harness.local.autoscaler import Autoscaler, ScaledPod, ScaledRevision
from harness.local.revision import STATS_PATH

A = "autoscaling.knative.dev/"
ANNOTATIONS = {A + "target": "2", A + "window": "6s", A + "scale-down-delay": "4s"}
CONFIG = AutoscalerConfig(scale_to_zero_grace_period_s=3.0)
# In-flight requests per second, multiples of 0.5 so that every sum is exact.
TRACE = (
    [1.0] * 6
    + [1.0 + 0.5 * i for i in range(12)]  # ramp to 6.5
    + [20.0] * 4  # a spike: panic
    + [3.0] * 10
    + [0.0] * 29  # idle: the stable window, the grace period, then zero pods
    + [0.5, 0.5, 2.0, 2.0, 1.0, 1.0]  # woken through the activator
    + [0.0] * 6
)


def _simulated() -> tuple[list[KpaStep], list[int]]:
    settings = ScalingSettings.from_revision(ANNOTATIONS, 0, CONFIG)
    assert settings is not None
    trace = Trace(values=TRACE, kind="concurrency", source="test")
    run = simulate(
        "baseline",
        settings,
        trace,
        SimulationOptions(pod_start_s=2.0, service_time_s=0.5),
        keep_steps=True,
    )
    return list(run.steps), run.series.desired_pods


def _emulated(steps: list[KpaStep]) -> tuple[list[KpaStep], list[int], object]:
    """The emulator's loop fed what the simulation observed at each step."""
    now = [0.0]
    pod_stats: dict[str, float] = {"t": 0.0, "in_flight": 0.0, "concurrency_seconds": 0.0}
    replicas: list[int] = []
    state: dict[str, ScaledRevision] = {}

    async def run() -> tuple[list[KpaStep], object]:
        async def stats(request: web.BaseRequest) -> web.Response:
            assert request.path == STATS_PATH
            return web.json_response({**pod_stats, "requests": 0})

        async def idle(request: web.BaseRequest) -> web.Response:
            body: Mapping[str, float] = {
                "t": pod_stats["t"],
                "in_flight": 0,
                "requests": 0,
                "concurrency_seconds": 0.0,
            }
            return web.json_response(dict(body))

        loop = asyncio.get_running_loop()
        busy_server = await loop.create_server(web.Server(stats), "127.0.0.1", 0)
        idle_server = await loop.create_server(web.Server(idle), "127.0.0.1", 0)
        busy = f"127.0.0.1:{busy_server.sockets[0].getsockname()[1]}"
        quiet = f"127.0.0.1:{idle_server.sockets[0].getsockname()[1]}"
        autoscaler = Autoscaler(
            lambda: [state["revision"]],
            scrape_interval_s=3600.0,
            clock=lambda: now[0],
            on_decision=lambda ns, name, count: replicas.append(count),
            config=CONFIG,
            keep_steps=True,
        )
        try:
            for index, step in enumerate(steps):
                now[0] = step.t
                observed = step.observed or 0.0
                ready = step.ready_pods
                # Pod 0 carries the whole observation, the others are idle; without a
                # ready pod the activator holds it.
                pods = tuple(
                    ScaledPod(f"p{i}", busy if i == 0 else quiet, ready=True) for i in range(ready)
                )
                pod_stats["t"] = step.t
                pod_stats["in_flight"] = observed if ready else 0.0
                pod_stats["concurrency_seconds"] += observed if ready else 0.0
                held = 0 if ready else int(observed)
                assert ready or held == observed  # the activator holds whole requests
                state["revision"] = ScaledRevision(
                    "default", "s", "s", "s-a", pods, ANNOTATIONS, activator_held=held
                )
                if index == 0:
                    await autoscaler.start()  # its loop scrapes once, at once
                    while not replicas:
                        await asyncio.sleep(0.005)
                else:
                    await autoscaler.scrape_once()
            kpa = autoscaler.kpa("default", "s-a")
            assert kpa is not None and kpa.steps is not None
            return list(kpa.steps), kpa
        finally:
            await autoscaler.close()
            busy_server.close()
            idle_server.close()

    emulated, kpa = asyncio.run(run())
    return emulated, replicas, kpa


def test_the_emulator_loop_and_the_simulator_make_the_same_decisions_with_one_class() -> None:
    simulated, sim_replicas = _simulated()
    emulated, emu_replicas, kpa = _emulated(simulated)

    assert type(kpa) is RevisionKpa  # the emulator's model is the simulator's class
    assert len(emulated) == len(simulated) == len(TRACE)
    for sim, emu in zip(simulated, emulated, strict=True):
        assert emu == sim, f"at t={sim.t}"
    assert emu_replicas == sim_replicas
    # The trace exercised every rule it was built for.
    assert any(step.panic for step in simulated)
    assert any(step.replicas == 0 for step in simulated)
    woke = [b for a, b in itertools.pairwise(simulated) if a.replicas == 0 and b.replicas > 0]
    # The activator's poke decided at once, between two 2 s ticks.
    assert woke and woke[0].decided and woke[0].t % 2 == 1
    assert max(step.replicas for step in simulated) >= 5
