"""How long until a traffic change is visible in routing (target: within 100 ms).

Two paths, measured side by side in one run, alternating v1 -> v2 -> v1:

- ``set_routes``: the data plane alone (the reference): a new host table is swapped in
  and a client polls the ingress until a response comes from the new revision.
- ``PATCH``: the whole emulator (``Emulator.start(demo=True)``): a merge patch of
  ``spec.traffic`` through its Kubernetes-style API, the controller reconciles, the data
  plane gets the new table; timed from sending the PATCH to the first response from the
  new revision.

    .venv/bin/python benchmarks/traffic_patch.py [--trials 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx

from harness.local.api_client import api_client
from harness.local.dataplane import DataPlane, HostRoute, RevisionSpec, RouteBackend
from harness.local.launcher import Emulator

HOST = "hello.default.example.com"
SERVICE_PATH = "/apis/serving.knative.dev/v1/namespaces/default/services/hello"
TIMEOUT_S = 10.0
T = TypeVar("T")


def _wait_for_revision(client: httpx.Client, ingress: str, revision: str) -> float:
    """Poll the main host until ``revision`` answers; when that request was sent (monotonic).

    The send time, not the answer's arrival, so the app's own latency (5 ms median in
    both set-ups) is not counted; the resolution is one poll (one response time).
    """
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        sent = time.monotonic()
        response = client.get(ingress + "/", headers={"Host": HOST})
        if response.headers.get("K-Revision") == revision:
            return sent
    raise TimeoutError(f"{revision} not routed after {TIMEOUT_S} s")


class RoutingPath:
    """One way of changing the traffic, and where to watch for the change."""

    def __init__(self, change: Callable[[str], None], ingress: str) -> None:
        self.change = change
        self.ingress = ingress
        self.samples: list[float] = []

    def trial(self, client: httpx.Client, target: str) -> None:
        """Milliseconds from ``change(target)`` starting to the first request routed to target."""
        start = time.monotonic()
        self.change(target)
        self.samples.append((_wait_for_revision(client, self.ingress, target) - start) * 1000)


@contextlib.contextmanager
def data_plane_only() -> Iterator[RoutingPath]:
    """The reference: a data plane on its own loop thread, routes swapped from outside."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def call(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(60)

    async def make(state: str) -> DataPlane:
        return DataPlane(Path(state))

    with tempfile.TemporaryDirectory(prefix="bench-patch-") as state:
        plane = call(make(state))
        port = call(plane.start())
        try:
            for name in ("hello-v1", "hello-v2"):
                call(plane.ensure_revision(RevisionSpec("default", "hello", "hello", name, {})))
            while sum(r.ready for r in plane.revisions()) < 2:
                time.sleep(0.02)

            def change(target: str) -> None:
                table = {HOST: HostRoute((RouteBackend("default", target, 100),))}
                loop.call_soon_threadsafe(plane.set_routes, table)

            change("hello-v1")
            yield RoutingPath(change, f"http://127.0.0.1:{port}")
        finally:
            call(plane.close())
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)


@contextlib.contextmanager
def whole_emulator() -> Iterator[RoutingPath]:
    """The whole emulator: merge-patch spec.traffic through the API."""
    with tempfile.TemporaryDirectory(prefix="bench-patch-") as state:
        info = Emulator.start(Path(state), demo=True)
        try:
            with api_client(info, timeout=TIMEOUT_S) as api:

                def change(target: str) -> None:
                    other = "hello-v1" if target == "hello-v2" else "hello-v2"
                    patch = {
                        "spec": {
                            "traffic": [
                                {"revisionName": target, "percent": 100, "tag": target[6:]},
                                {"revisionName": other, "percent": 0, "tag": other[6:]},
                            ]
                        }
                    }
                    response = api.patch(
                        SERVICE_PATH,
                        json=patch,
                        headers={"Content-Type": "application/merge-patch+json"},
                    )
                    response.raise_for_status()

                yield RoutingPath(change, info.ingress)
        finally:
            Emulator.stop(Path(state))


def _row(name: str, samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=20)
    cells = (len(samples), statistics.median(samples), q[18], max(samples))
    return f"{name:<11}{cells[0]:>6}{cells[1]:>10.2f}{cells[2]:>10.2f}{cells[3]:>10.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    # The reference's data plane shares this process (and its GIL) with the polling client:
    # hand the GIL over every 0.5 ms instead of 5 ms, so the wait measures routing, not
    # the interpreter's thread switching.
    sys.setswitchinterval(0.0005)
    with data_plane_only() as reference, whole_emulator() as patched, httpx.Client() as client:
        for i in range(args.trials):  # alternate the two paths so both see the same load
            target = "hello-v2" if i % 2 == 0 else "hello-v1"
            reference.trial(client, target)
            patched.trial(client, target)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (1 min)")
    print(f"{'path':<11}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    print(_row("set_routes", reference.samples))
    print(_row("PATCH", patched.samples))
    p95 = statistics.quantiles(patched.samples, n=20)[18]
    print(f"\nPATCH -> visible in routing, p95: {p95:.1f} ms (target <= 100 ms)")


if __name__ == "__main__":
    main()
