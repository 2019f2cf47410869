"""The emulator's autoscaler end to end: load on a revision, its KPA gauges in Prometheus.

Real processes on loopback: the daemon, revision processes, Prometheus where installed
(without it the gauges are read from the autoscaler's own endpoint).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest

from harness.local.launcher import Emulator, alive, descendants
from harness.local.prometheus import AUTOSCALER_JOB_NAME, autoscaler_targets_path
from harness.local.state import EmulatorInfo
from tests.local_dataplane.promtext import parse
from tests.manifests import apply_ready, service_manifest

A = "autoscaling.knative.dev/"
# containerConcurrency 1 at 100% utilization: the per-pod target is exactly 1 request,
# so N users in a closed loop keep about N requests in flight and want about N pods.
SCALED = {A + "target-utilization-percentage": "100", A + "window": "6s"}


@pytest.fixture
def emulator_factory(tmp_path: Path) -> Iterator[Callable[[str], EmulatorInfo]]:
    """Start an emulator (no demo) in the given metrics schema; stopped, with no orphan."""
    started: list[tuple[Path, EmulatorInfo]] = []

    def start(schema: str) -> EmulatorInfo:
        state_dir = tmp_path / f"emulator-{schema}"
        info = Emulator.start(state_dir, metrics_schema=schema)
        started.append((state_dir, info))
        return info

    yield start
    for state_dir, info in started:
        spawned = [info.pid, *descendants(info.pid)]
        Emulator.stop(state_dir)
        assert not [pid for pid in spawned if alive(pid)]


def apply(info: EmulatorInfo, name: str, annotations: dict[str, str]) -> None:
    manifest = service_manifest(
        name, "a", {"SIM_LATENCY_MS": "20"}, annotations=annotations, container_concurrency=1
    )
    apply_ready(Path(info.kubeconfig), manifest)


class Load:
    """``users`` closed-loop users per Service on a thread, from start until `stop`
    (the gauges are read while the load holds them, not after it: a loaded machine
    may read them seconds late)."""

    def __init__(self, info: EmulatorInfo, services: list[str], users: int) -> None:
        self.answered: dict[tuple[str, int], int] = {}  # 200s per (Service, user)
        self._stop = threading.Event()
        hosts = [f"{s}.default.{info.domain}" for s in services]
        self._thread = threading.Thread(target=asyncio.run, args=(self._run(info, hosts, users),))
        self._thread.start()

    async def _run(self, info: EmulatorInfo, hosts: list[str], users: int) -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

            async def user(host: str, number: int) -> None:
                key = (host, number)
                self.answered[key] = 0
                while not self._stop.is_set():
                    async with session.get(info.ingress, headers={"Host": host}) as response:
                        await response.read()
                        self.answered[key] += response.status == 200

            await asyncio.gather(*(user(h, n) for h in hosts for n in range(users)))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(120)
        assert not self._thread.is_alive(), "the load's users did not stop"


def gauge(info: EmulatorInfo, name: str, labels: dict[str, str]) -> tuple[float, dict[str, str]]:
    """The gauge's value and labels, from Prometheus (or the autoscaler without one)."""
    if info.prometheus is not None:
        selector = ",".join(f'{k}="{v}"' for k, v in labels.items())
        response = httpx.get(
            f"{info.prometheus}/api/v1/query",
            params={"query": f"{name}{{{selector}}}"},
            timeout=60,
        )
        result = response.json()["data"]["result"]
        if not result:
            return float("nan"), {}
        return float(result[0]["value"][1]), result[0]["metric"]
    state_dir = Path(info.kubeconfig).parent
    address = json.loads(autoscaler_targets_path(state_dir).read_text())[0]["targets"][0]
    for sample in parse(httpx.get(f"http://{address}/metrics", timeout=60).text):
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
            return sample.value, sample.labels
    return float("nan"), {}


def wait_for(
    info: EmulatorInfo,
    name: str,
    labels: dict[str, str],
    done: Callable[[float], bool],
    timeout: float = 60.0,
) -> tuple[float, dict[str, str]]:
    deadline = time.monotonic() + timeout
    while True:
        found = gauge(info, name, labels)
        if done(found[0]) or time.monotonic() > deadline:
            return found
        time.sleep(0.25)


def test_desired_pods_follow_the_load_and_max_scale_in_prometheus(
    emulator_factory: Callable[[str], EmulatorInfo],
) -> None:
    info = emulator_factory("legacy")
    apply(info, "scaled", {**SCALED, A + "max-scale": "10"})
    apply(info, "capped", {**SCALED, A + "max-scale": "2"})
    idle = {"namespace_name": "default", "revision_name": "scaled-a"}
    # Before any request the KPA wants zero pods (a real cluster would scale to zero),
    # while the emulator keeps its one process.
    assert wait_for(info, "autoscaler_desired_pods", idle, lambda v: v == 0)[0] == 0
    assert wait_for(info, "autoscaler_actual_pods", idle, lambda v: v == 1)[0] == 1

    running = Load(info, ["scaled", "capped"], users=4)
    try:
        desired, labels = wait_for(info, "autoscaler_desired_pods", idle, lambda v: v >= 3)
        # 4 users, one request per pod: about 4 pods (a little less in flight between
        # requests), never more than the 4 requests in flight.
        assert 3 <= desired <= 4, desired
        assert labels["service_name"] == "scaled" and labels["configuration_name"] == "scaled"
        if info.prometheus is not None:
            assert labels["job"] == AUTOSCALER_JOB_NAME
        capped = {"namespace_name": "default", "revision_name": "capped-a"}
        assert wait_for(info, "autoscaler_desired_pods", capped, lambda v: v == 2)[0] == 2
        # 4 pods' worth on 1 ready pod is over the 200% threshold: panic mode.
        assert wait_for(info, "autoscaler_panic_mode", idle, lambda v: v == 1)[0] == 1
        assert gauge(info, "autoscaler_actual_pods", idle)[0] == 1
        assert gauge(info, "autoscaler_target_concurrency_per_pod", idle)[0] == 1
        panic = wait_for(info, "autoscaler_panic_request_concurrency", idle, lambda v: v >= 2.5)
        assert 2.5 <= panic[0] <= 4
    finally:
        running.stop()
    # Every user was answered (how often depends on the machine's speed).
    assert min(running.answered.values()) > 0, running.answered


def test_otel_schema_exports_kn_revision_gauges(
    emulator_factory: Callable[[str], EmulatorInfo],
) -> None:
    info = emulator_factory("otel")
    apply(info, "scaled", SCALED)
    labels = {"k8s_namespace_name": "default", "kn_revision_name": "scaled-a"}
    running = Load(info, ["scaled"], users=3)
    try:
        desired, found = wait_for(info, "kn_revision_pods_desired", labels, lambda v: v >= 2)
        assert 2 <= desired <= 3, desired
        assert found["kn_service_name"] == "scaled"
        assert gauge(info, "kn_revision_pods_count", labels)[0] == 1
    finally:
        running.stop()
    assert gauge(info, "autoscaler_desired_pods", {"revision_name": "scaled-a"})[1] == {}
