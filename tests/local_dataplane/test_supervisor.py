"""Revision processes: readiness, crash and restart, cold start, no orphans."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.local.dataplane import HostRoute, RouteBackend
from tests.local_dataplane.conftest import NAMESPACE, PlaneThread, start_plane


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[PlaneThread]:
    yield from start_plane(tmp_path)


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pids: list[int], timeout: float = 60.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if _alive(pid)]
        if not alive:
            return []
        time.sleep(0.02)
    return [pid for pid in pids if _alive(pid)]


def test_crashed_revision_is_not_ready_then_restarted_and_ready(fresh: PlaneThread) -> None:
    fresh.add("hello-crash", {"SIM_LATENCY_MS": "0"})
    first = fresh.wait_ready("hello-crash")
    assert first.pid is not None
    fresh.set_routes(
        {"h.default.example.com": HostRoute((RouteBackend(NAMESPACE, "hello-crash", 100),))}
    )

    os.kill(first.pid, signal.SIGKILL)
    again = fresh.wait_for("hello-crash", lambda r: r.ready and r.pid != first.pid)

    assert again.restarts == 1
    assert again.address != first.address  # a new process on new ports
    states = [(e.ready, e.reason) for e in fresh.events_for("hello-crash")]
    assert states == [(False, "Deploying"), (True, ""), (False, "ExitCode137"), (True, "")]
    answer = httpx.get(fresh.url + "/", headers={"Host": "h.default.example.com"}, timeout=60)
    assert answer.headers["K-Revision"] == "hello-crash"


def test_invalid_knob_keeps_the_revision_not_ready_with_the_reason(fresh: PlaneThread) -> None:
    fresh.add("hello-broken", {"SIM_ERROR_RATE": "lots"})
    broken = fresh.wait_for("hello-broken", lambda r: r.reason == "ExitCode2")
    assert not broken.ready
    event = fresh.events_for("hello-broken")[-1]
    assert event.message == "error: invalid SIM_ERROR_RATE='lots': want a number between 0 and 1"


def test_revision_is_not_ready_during_its_cold_start(fresh: PlaneThread) -> None:
    # A cold start long enough that this test, polling every 20 ms, sees the process
    # before it is ready even when a loaded machine holds it back for seconds.
    started = time.monotonic()
    fresh.add("hello-cold", {"SIM_COLD_START_MS": "5000"})
    fresh.wait_for("hello-cold", lambda r: r.address is not None)
    assert not fresh.revision("hello-cold").ready
    fresh.wait_ready("hello-cold")
    assert time.monotonic() - started >= 5.0


def test_child_env_carries_the_knative_variables(fresh: PlaneThread) -> None:
    fresh.add("hello-env", {"TARGET": "env", "SIM_LATENCY_MS": "0"})
    pid = fresh.wait_ready("hello-env").pid
    environ = dict(
        item.split("=", 1)
        for item in Path(f"/proc/{pid}/environ").read_text().split("\0")
        if "=" in item
    )
    assert environ["K_REVISION"] == "hello-env"
    assert environ["K_SERVICE"] == "hello"
    assert environ["K_CONFIGURATION"] == "hello"
    assert "PORT" in environ
    # The Service's env reaches the app (on stdin), never the process's environment.
    assert "TARGET" not in environ
    assert "SIM_LATENCY_MS" not in environ
    address = fresh.revision("hello-env").address
    assert "env" in httpx.get(f"http://{address}/", timeout=60).text


def test_close_leaves_no_revision_process(tmp_path: Path) -> None:
    plane = PlaneThread(tmp_path)
    try:
        plane.add("hello-a", {"SIM_LATENCY_MS": "0"})
        plane.add("hello-b", {"SIM_LATENCY_MS": "0"})
        pids = [plane.wait_ready(n).pid for n in ("hello-a", "hello-b")]
    finally:
        plane.close()
    assert all(pid is not None for pid in pids)
    assert [pid for pid in pids if pid is not None and _alive(pid)] == []


_DAEMON = """
import asyncio, json, sys
from pathlib import Path
from harness.local.dataplane import DataPlane, RevisionSpec

async def main():
    plane = DataPlane(Path(sys.argv[1]))
    await plane.start()
    for name in ("hello-a", "hello-b"):
        await plane.ensure_revision(RevisionSpec("default", "hello", "hello", name, {}))
    while not all(r.ready for r in plane.revisions()):
        await asyncio.sleep(0.02)
    print(json.dumps([r.pid for r in plane.revisions()]), flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def test_sigkilled_daemon_leaves_no_revision_process(tmp_path: Path) -> None:
    daemon = subprocess.Popen(
        [sys.executable, "-c", _DAEMON, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert daemon.stdout is not None
        pids = json.loads(daemon.stdout.readline())
        assert len(pids) == 2 and all(_alive(pid) for pid in pids)
    finally:
        daemon.kill()
        daemon.wait(10)
    assert _wait_gone(pids) == []
