"""Several pods per revision on the data plane (``max_pods``): the cap, balancing, crashes.

Real revision processes on loopback, driven through :class:`PlaneThread`. The data plane
acts and decides nothing: the KPA model's replicas are given to ``scale_revision``
directly here (min-scale and the scale-to-zero timing are the model's, tested in
tests/autoscale); see ``test_scaling_emulator.py`` for the whole loop.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from harness.local.dataplane import HostRoute, PodProcess, RevisionSpec, RouteBackend
from harness.local.prometheus import targets_path
from tests.local_dataplane.conftest import NAMESPACE, PlaneThread, fetch_many, start_plane
from tests.local_dataplane.promtext import parse, value

HOST = "scaled.default.example.com"
FAST = {"SIM_LATENCY_MS": "0"}


def _spec(name: str, **scale: int) -> RevisionSpec:
    return RevisionSpec(NAMESPACE, "scaled", "scaled", name, FAST, **scale)


def _pods(plane: PlaneThread, name: str) -> list[PodProcess]:
    return [p for p in plane.run(plane.plane.pods) if p.revision == name]


def _wait_pods(
    plane: PlaneThread, name: str, check: Callable[[list[PodProcess]], bool], timeout: float = 60
) -> list[PodProcess]:
    deadline = time.monotonic() + timeout
    while True:
        pods = _pods(plane, name)
        if check(pods):
            return pods
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting on the pods of {name}: {pods}")
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _served_by_pod(pods: list[PodProcess]) -> dict[str, float]:
    """Requests each pod's own queue-proxy metrics counted."""
    counts = {}
    for pod in pods:
        samples = parse(httpx.get(f"http://{pod.metrics_address}/metrics", timeout=60).text)
        counts[pod.pod] = value(samples, "revision_request_count", pod_name=pod.pod) or 0.0
    return counts


@pytest.fixture
def one_pod(tmp_path: Path) -> Iterator[PlaneThread]:
    yield from start_plane(tmp_path)


@pytest.fixture
def three_pods(tmp_path: Path) -> Iterator[PlaneThread]:
    yield from start_plane(tmp_path, max_pods=3)


def test_default_data_plane_runs_one_pod_whatever_the_scale_asked(one_pod: PlaneThread) -> None:
    one_pod.call(one_pod.plane.ensure_revision(_spec("scaled-a", min_scale=3, initial_scale=3)))
    one_pod.wait_ready("scaled-a")
    one_pod.run(lambda: one_pod.plane.scale_revision(NAMESPACE, "scaled-a", 5))
    one_pod.run(lambda: one_pod.plane.scale_revision(NAMESPACE, "scaled-a", 0))

    assert len(_pods(one_pod, "scaled-a")) == 1
    revision = one_pod.revision("scaled-a")
    assert (revision.ready_pods, revision.desired_pods) == (1, 1)
    # No replica counts reported: the control plane keeps its one-pod status.
    events = one_pod.events_for("scaled-a")
    assert {(e.actual_replicas, e.desired_replicas) for e in events} == {(None, None)}


def test_initial_scale_pods_share_the_traffic_and_are_scraped_one_by_one(
    three_pods: PlaneThread,
) -> None:
    three_pods.call(three_pods.plane.ensure_revision(_spec("scaled-a", initial_scale=2)))
    three_pods.set_routes({HOST: HostRoute((RouteBackend(NAMESPACE, "scaled-a", 100),))})
    pods = _wait_pods(three_pods, "scaled-a", lambda ps: sum(p.ready for p in ps) == 2)

    answers = fetch_many(three_pods.url + "/", 200, {"Host": HOST}, concurrency=4)

    assert len(pods) == 2 and len({p.pod for p in pods}) == 2
    assert len({p.address for p in pods}) == 2 and len({p.metrics_address for p in pods}) == 2
    # Pods of one ReplicaSet: the same template hash, their own suffix.
    assert len({p.pod.rsplit("-", 1)[0] for p in pods}) == 1
    assert all(p.pod.startswith("scaled-a-deployment-") for p in pods)
    assert [status for status, _ in answers] == [200] * 200
    served = _served_by_pod(pods)
    assert sum(served.values()) == 200
    # Least in flight, ties in turn: about even (100 each when both pods keep pace). A
    # pod a loaded machine runs slower keeps its requests longer and gets fewer, so the
    # bound only says that both pods take a real share.
    assert min(served.values()) >= 20, served
    targets = json.loads(targets_path(three_pods.state_dir).read_text())
    assert sorted(t["labels"]["pod"] for t in targets) == sorted(p.pod for p in pods)
    revision = three_pods.revision("scaled-a")
    assert (revision.ready, revision.ready_pods, revision.desired_pods) == (True, 2, 2)
    last = three_pods.events_for("scaled-a")[-1]
    assert (last.ready, last.actual_replicas, last.desired_replicas) == (True, 2, 2)


def test_scaling_stays_within_max_pods_and_one_pod_and_stops_surplus_pods(
    three_pods: PlaneThread,
) -> None:
    three_pods.call(
        three_pods.plane.ensure_revision(_spec("scaled-b", min_scale=3, initial_scale=2))
    )
    _wait_pods(three_pods, "scaled-b", lambda ps: sum(p.ready for p in ps) == 2)

    three_pods.run(lambda: three_pods.plane.scale_revision(NAMESPACE, "scaled-b", 10))
    full = _wait_pods(three_pods, "scaled-b", lambda ps: sum(p.ready for p in ps) == 3)
    three_pods.run(lambda: three_pods.plane.scale_revision(NAMESPACE, "scaled-b", 2))
    kept = _wait_pods(three_pods, "scaled-b", lambda ps: len(ps) == 2)
    # 0 without scale to zero: one pod stays (no activator could wake it), whatever
    # the min-scale annotation says (bounds are the model's).
    three_pods.run(lambda: three_pods.plane.scale_revision(NAMESPACE, "scaled-b", 0))
    last = _wait_pods(three_pods, "scaled-b", lambda ps: len(ps) == 1)

    assert len(full) == 3
    # The newest pod goes first.
    assert [p.pod for p in kept] == [p.pod for p in full[:2]]
    assert [p.pod for p in last] == [full[0].pod]
    retired = full[2].pid
    assert retired is not None
    deadline = time.monotonic() + 60
    while _alive(retired) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(retired)
    assert three_pods.revision("scaled-b").desired_pods == 1


def test_killing_one_pod_of_two_keeps_the_revision_ready_and_serving(
    three_pods: PlaneThread,
) -> None:
    three_pods.call(three_pods.plane.ensure_revision(_spec("scaled-c", initial_scale=2)))
    three_pods.set_routes({HOST: HostRoute((RouteBackend(NAMESPACE, "scaled-c", 100),))})
    pods = _wait_pods(three_pods, "scaled-c", lambda ps: sum(p.ready for p in ps) == 2)
    victim = pods[0]
    assert victim.pid is not None

    os.kill(victim.pid, signal.SIGKILL)
    # Once the data plane has seen the exit, the router sends nothing to that pod.
    _wait_pods(three_pods, "scaled-c", lambda ps: ps[0].restarts > 0)
    statuses = [
        httpx.get(three_pods.url + "/", headers={"Host": HOST}, timeout=60).status_code
        for _ in range(50)
    ]
    restarted = _wait_pods(
        three_pods, "scaled-c", lambda ps: ps[0].restarts == 1 and all(p.ready for p in ps)
    )

    assert statuses == [200] * 50
    assert restarted[0].pod == victim.pod and restarted[0].pid != victim.pid
    # The revision never stopped being Ready (Deploying, then Ready only); its ready
    # replicas went 2 -> 1 -> 2.
    events = three_pods.events_for("scaled-c")
    assert not events[0].ready and all(e.ready for e in events[1:])
    assert [e.actual_replicas for e in events if e.ready][-3:] == [2, 1, 2]


@pytest.fixture
def to_zero(tmp_path: Path) -> Iterator[PlaneThread]:
    yield from start_plane(tmp_path, max_pods=2, scale_to_zero=True)


def test_zero_replicas_stop_the_last_pod_and_the_activator_holds_requests_until_one(
    to_zero: PlaneThread,
) -> None:
    activations: list[tuple[str, str, int]] = []
    to_zero.run(lambda: setattr(to_zero.plane, "on_activate", lambda *a: activations.append(a)))
    to_zero.add("zero-a", FAST)
    to_zero.set_routes({HOST: HostRoute((RouteBackend(NAMESPACE, "zero-a", 100),))})
    [pod] = _wait_pods(to_zero, "zero-a", lambda ps: any(p.ready for p in ps))
    assert pod.pid is not None

    to_zero.run(lambda: to_zero.plane.scale_revision(NAMESPACE, "zero-a", 0))  # at once

    _wait_pods(to_zero, "zero-a", lambda ps: not ps)
    deadline = time.monotonic() + 60
    while _alive(pod.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(pod.pid)
    last = to_zero.events_for("zero-a")[-1]
    assert (last.ready, last.actual_replicas, last.desired_replicas) == (True, 0, 0)

    # The activator holds the request and reports it; the answer comes once the model
    # (here: the test) asks for a pod.
    with httpx.Client(timeout=120) as client:
        answers: list[httpx.Response] = []
        waiter = threading.Thread(
            target=lambda: answers.append(client.get(to_zero.url + "/", headers={"Host": HOST}))
        )
        waiter.start()
        deadline = time.monotonic() + 60
        while not activations and time.monotonic() < deadline:
            time.sleep(0.02)
        assert activations == [(NAMESPACE, "zero-a", 1)]
        assert to_zero.run(lambda: to_zero.plane.activator_held(NAMESPACE, "zero-a")) == 1
        assert not _pods(to_zero, "zero-a")  # the data plane started nothing by itself
        to_zero.run(lambda: to_zero.plane.scale_revision(NAMESPACE, "zero-a", 1))
        waiter.join(120)

    [answer] = answers
    assert answer.status_code == 200 and answer.headers["K-Revision"] == "zero-a"
    [woken] = _pods(to_zero, "zero-a")
    assert woken.ready and woken.pid != pod.pid
    assert to_zero.revision("zero-a").desired_pods == 1
    assert to_zero.run(lambda: to_zero.plane.activator_held(NAMESPACE, "zero-a")) == 0


def test_a_held_request_gets_503_when_no_pod_gets_ready_in_time(to_zero: PlaneThread) -> None:
    to_zero.run(lambda: setattr(to_zero.plane.router, "activation_timeout_s", 0.5))
    to_zero.add("zero-bad", {"SIM_ERROR_RATE": "2"})  # an invalid knob: the pod never starts
    to_zero.set_routes({HOST: HostRoute((RouteBackend(NAMESPACE, "zero-bad", 100),))})

    started = time.monotonic()
    answer = httpx.get(to_zero.url + "/", headers={"Host": HOST}, timeout=120)

    assert answer.status_code == 503
    assert answer.text == "activator request timeout: no ready pod\n"
    # The 0.5 s set above, not the router's default of 60 s; the upper bound has headroom
    # for a loaded machine.
    assert 0.5 <= time.monotonic() - started < 30
