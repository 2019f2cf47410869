"""``harness local up --max-pods 3`` end to end: the KPA model scales revisions' pods.

Real processes on loopback: the daemon, its revision pods, Prometheus where installed.
One emulator serves the module; stopping it must leave no process behind.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from harness.local.api_client import api_client
from harness.local.launcher import Emulator, alive, descendants
from harness.local.state import EmulatorInfo
from tests.manifests import apply_ready, service_manifest

A = "autoscaling.knative.dev/"
REVISIONS = "/apis/serving.knative.dev/v1/namespaces/default/revisions/"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorInfo]:
    """An emulator with ``--max-pods 3``; `local down` must stop every pod it ran."""
    state_dir = tmp_path_factory.mktemp("scaling") / "state"
    info = Emulator.start(state_dir, max_pods=3)
    try:
        yield info
    finally:
        spawned = [info.pid, *descendants(info.pid)]
        Emulator.stop(state_dir)
        assert not [pid for pid in spawned if alive(pid)]


def pod_pids(info: EmulatorInfo, revision: str) -> list[int]:
    """The daemon's revision processes that run ``revision`` (from their environment)."""
    found = []
    for pid in descendants(info.pid):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"K_REVISION={revision}".encode() in environ:
            found.append(pid)
    return found


def replicas(info: EmulatorInfo, revision: str) -> tuple[int, int]:
    """The Revision's ``status.actualReplicas`` and ``status.desiredReplicas``."""
    with api_client(info) as api:
        status = api.get(REVISIONS + revision).json()["status"]
    return status["actualReplicas"], status["desiredReplicas"]


def poll(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """``check()`` once it is truthy; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def prometheus_series(info: EmulatorInfo, query: str) -> list[dict[str, Any]]:
    assert info.prometheus is not None
    response = httpx.get(f"{info.prometheus}/api/v1/query", params={"query": query}, timeout=60)
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


class Users:
    """``n`` closed-loop users on a host through the ingress, on a thread, until `stop`."""

    def __init__(self, info: EmulatorInfo, host: str, n: int) -> None:
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._run(info, host, n),))
        self._thread.start()

    async def _run(self, info: EmulatorInfo, host: str, n: int) -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

            async def user() -> None:
                while not self._stop.is_set():
                    async with session.get(info.ingress, headers={"Host": host}) as response:
                        await response.read()
                        self.statuses.append(response.status)

            await asyncio.gather(*(user() for _ in range(n)))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)


def test_status_shows_max_pods(emulator: EmulatorInfo) -> None:
    info = Emulator.status(Path(emulator.kubeconfig).parent)
    assert info is not None and info.max_pods == 3


def test_min_scale_two_runs_two_pods_that_both_serve_and_are_scraped_per_pod(
    emulator: EmulatorInfo,
) -> None:
    manifest = service_manifest(
        "floor", "a", {"SIM_LATENCY_MS": "2"}, annotations={A + "min-scale": "2"}
    )
    apply_ready(Path(emulator.kubeconfig), manifest)
    poll(lambda: replicas(emulator, "floor-a") == (2, 2), 60, "2 ready replicas")
    assert len(pod_pids(emulator, "floor-a")) == 2

    users = Users(emulator, "floor.default.example.com", 4)
    try:
        # A number of requests, not a time: a loaded machine serves fewer per second.
        poll(lambda: len(users.statuses) > 50, 60, "more than 50 answers")
    finally:
        users.stop()

    assert set(users.statuses) == {200}
    if emulator.prometheus is None:
        pytest.skip("prometheus is not installed: per-pod series not checked")
    query = 'revision_request_count{revision_name="floor-a"}'
    series = poll(
        lambda: (
            (found := prometheus_series(emulator, query))
            and sum(float(s["value"][1]) for s in found) >= len(users.statuses)
            and found
        ),
        60,
        "every request counted in Prometheus",
    )
    per_pod: dict[str, float] = {}
    for s in series:
        assert s["metric"]["pod"] == s["metric"]["pod_name"]
        per_pod[s["metric"]["pod"]] = per_pod.get(s["metric"]["pod"], 0.0) + float(s["value"][1])
    assert len(per_pod) == 2 and min(per_pod.values()) > 0, per_pod


def test_load_scales_pods_up_and_idleness_back_down(emulator: EmulatorInfo) -> None:
    # containerConcurrency 1 at 100% utilization: 4 users want about 4 pods (max-pods 3).
    annotations = {A + "target-utilization-percentage": "100", A + "window": "6s"}
    manifest = service_manifest(
        "busy",
        "a",
        {"SIM_LATENCY_MS": "20"},
        annotations=annotations,
        container_concurrency=1,
    )
    apply_ready(Path(emulator.kubeconfig), manifest)
    assert replicas(emulator, "busy-a") == (1, 1)

    users = Users(emulator, "busy.default.example.com", 4)
    try:
        up = poll(
            lambda: (r := replicas(emulator, "busy-a"))[0] >= 2 and r,
            60,
            "at least 2 ready pods under load",
        )
        poll(lambda: len(pod_pids(emulator, "busy-a")) >= 2, 60, "2 processes")
        assert len(pod_pids(emulator, "busy-a")) <= 3
    finally:
        users.stop()
    down = poll(
        lambda: replicas(emulator, "busy-a") == (1, 1) and len(pod_pids(emulator, "busy-a")) == 1,
        60,
        "back to one pod once idle",
    )

    assert up[1] >= 2 and down
    assert set(users.statuses) == {200}


def test_default_max_pods_keeps_one_process_per_revision_under_load(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    info = Emulator.start(state_dir)
    try:
        assert info.max_pods == 1
        annotations = {
            A + "min-scale": "3",
            A + "target-utilization-percentage": "100",
            A + "window": "6s",
        }
        manifest = service_manifest(
            "single",
            "a",
            {"SIM_LATENCY_MS": "20"},
            annotations=annotations,
            container_concurrency=1,
        )
        apply_ready(Path(info.kubeconfig), manifest)
        users = Users(info, "single.default.example.com", 4)
        counts = []
        try:
            deadline = time.monotonic() + 4.0  # two KPA ticks and more, each wanting 3+ pods
            while time.monotonic() < deadline:
                counts.append(len(pod_pids(info, "single-a")))
                time.sleep(0.2)
        finally:
            users.stop()
        assert set(counts) == {1}
        assert replicas(info, "single-a") == (1, 1)
    finally:
        spawned = [info.pid, *descendants(info.pid)]
        Emulator.stop(state_dir)
        assert not [pid for pid in spawned if alive(pid)]


def test_scale_to_zero_stops_an_idle_revision_and_a_request_wakes_it(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    info = Emulator.start(state_dir, max_pods=2, scale_to_zero=True, scale_to_zero_grace_s=1.0)
    try:
        assert info.scale_to_zero
        manifest = service_manifest(
            "sleepy", "a", {"SIM_LATENCY_MS": "2"}, annotations={A + "window": "6s"}
        )
        created = time.monotonic()
        apply_ready(Path(info.kubeconfig), manifest)
        # Idle from the start: the KPA model keeps one pod while the revision is Active
        # for its stable window (6 s), marks it Inactive, and asks 0 pods once the
        # activator has been in the path for the grace period (1 s): at about 7 s.
        poll(
            lambda: replicas(info, "sleepy-a") == (0, 0) and not pod_pids(info, "sleepy-a"),
            60,
            "zero pods",
        )
        assert time.monotonic() - created >= 6.0  # not before the stable window
        with api_client(info) as api:
            service = api.get("/apis/serving.knative.dev/v1/namespaces/default/services/sleepy")
        ready = {c["type"]: c["status"] for c in service.json()["status"]["conditions"]}
        assert ready["Ready"] == "True"  # scaled to zero is not broken

        answer = httpx.get(info.ingress, headers={"Host": "sleepy.default.example.com"}, timeout=60)

        assert answer.status_code == 200 and answer.text == "Hello World!\n"
        assert len(pod_pids(info, "sleepy-a")) == 1
        poll(lambda: replicas(info, "sleepy-a") == (1, 1), 60, "one ready replica again")
    finally:
        spawned = [info.pid, *descendants(info.pid)]
        Emulator.stop(state_dir)
        assert not [pid for pid in spawned if alive(pid)]
