"""Control-plane benchmark: the emulator's API and KubeBackend next to their floors.

Run: `.venv/bin/python benchmarks/controlplane_bench.py [--requests N]`. Starts a demo
emulator in a temp folder, and a bare aiohttp server returning the same JSON (the
framework's floor: what any Python API on this loop costs), then prints one table:

- GET a Service: emulator vs the bare server (same body, its own process too);
- PATCH (merge, a label) vs a bare echo of the body;
- `KubeBackend.set_traffic` (read, patch, wait for Ready and programmed routes) vs one
  raw httpx PATCH of the same traffic (no wait): the price of waiting for Ready;
- watch: from a PATCH's response to the event on an open watch;
- `Emulator.start(demo=True)` to Ready, and `Emulator.stop`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from aiohttp import web

from harness.knative.kube import KubeBackend
from harness.knative.traffic import TrafficTarget
from harness.local.api_client import api_client
from harness.local.launcher import Emulator
from harness.local.state import EmulatorInfo

SERVICE = "/apis/serving.knative.dev/v1/namespaces/default/services/hello"
MERGE = {"Content-Type": "application/merge-patch+json"}


def timings(action: Callable[[], object], count: int) -> list[float]:
    """Milliseconds of `count` calls of `action` (after 5 warm-up calls)."""
    for _ in range(5):
        action()
    out = []
    for _ in range(count):
        start = time.perf_counter()
        action()
        out.append((time.perf_counter() - start) * 1000)
    return out


def summary(ms: list[float]) -> str:
    ordered = sorted(ms)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):7.2f}  p99 {p99:7.2f}"


def serve_bare(body_file: Path) -> None:
    """The reference server (run in its own process): GET returns the body, PATCH echoes."""
    body = body_file.read_bytes()

    async def get(_: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Type": "application/json"})

    async def patch(request: web.Request) -> web.Response:
        return web.Response(body=await request.read(), headers={"Content-Type": "application/json"})

    async def run() -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", get)
        app.router.add_patch("/{tail:.*}", patch)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        print(runner.addresses[0][1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


def bare_server(body: bytes, tmp: Path) -> tuple[str, subprocess.Popen[str]]:
    """Start the reference server in a separate process, like the emulator's daemon."""
    body_file = tmp / "body.json"
    body_file.write_bytes(body)
    process = subprocess.Popen(
        [sys.executable, __file__, "--bare-server", str(body_file)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    port = int(process.stdout.readline())
    return f"http://127.0.0.1:{port}", process


def watch_latency(info: EmulatorInfo, count: int) -> list[float]:
    """Milliseconds from a PATCH's response to its MODIFIED event on an open watch."""
    out = []
    with api_client(info) as client:
        for i in range(count):
            since = client.get(SERVICE).json()["metadata"]["resourceVersion"]
            params = {
                "watch": "1",
                "resourceVersion": since,
                "fieldSelector": "metadata.name=hello",
            }
            path = SERVICE.rsplit("/", 1)[0]
            with client.stream("GET", path, params=params) as stream:
                client.patch(SERVICE, json={"metadata": {"labels": {"n": str(i)}}}, headers=MERGE)
                sent = time.perf_counter()
                for line in stream.iter_lines():
                    if json.loads(line)["object"]["metadata"].get("labels", {}).get("n") == str(i):
                        out.append((time.perf_counter() - sent) * 1000)
                        break
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--bare-server", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        serve_bare(args.bare_server)
        return
    n = args.requests
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        start = time.perf_counter()
        info = Emulator.start(state, demo=True)
        started_ms = (time.perf_counter() - start) * 1000
        try:
            with api_client(info) as client:
                body = client.get(SERVICE).content
                bare_url, bare_process = bare_server(body, state)
                with httpx.Client(base_url=bare_url, timeout=10) as bare:
                    rows.append(
                        (
                            "GET service (ms)",
                            summary(timings(lambda: client.get(SERVICE), n)),
                            summary(timings(lambda: bare.get(SERVICE), n)),
                        )
                    )
                    label = {"metadata": {"labels": {"bench": "1"}}}
                    rows.append(
                        (
                            "PATCH merge, a label (ms)",
                            summary(
                                timings(lambda: client.patch(SERVICE, json=label, headers=MERGE), n)
                            ),
                            summary(
                                timings(lambda: bare.patch(SERVICE, json=label, headers=MERGE), n)
                            ),
                        )
                    )
                bare_process.terminate()
                bare_process.wait()
                splits = [
                    [
                        TrafficTarget(percent=100 - p, revision_name="hello-v1", tag="v1"),
                        TrafficTarget(percent=p, revision_name="hello-v2", tag="v2"),
                    ]
                    for p in (10, 50)
                ]
                step = iter(range(10**9))
                with KubeBackend(Path(info.kubeconfig)) as kube:
                    backend_ms = timings(
                        lambda: kube.set_traffic(
                            "default", "hello", lambda _: splits[next(step) % 2]
                        ),
                        max(20, n // 10),
                    )
                raw_step = iter(range(10**9))

                def raw_patch() -> None:
                    traffic = [t.to_dict() for t in splits[next(raw_step) % 2]]
                    client.patch(SERVICE, json={"spec": {"traffic": traffic}}, headers=MERGE)

                rows.append(
                    (
                        "set_traffic -> Ready (ms)",
                        summary(backend_ms),
                        summary(timings(raw_patch, max(20, n // 10))) + "  (raw PATCH, no wait)",
                    )
                )
            rows.append(("watch event after PATCH (ms)", summary(watch_latency(info, 30)), "-"))
        finally:
            start = time.perf_counter()
            Emulator.stop(state)
            stopped_ms = (time.perf_counter() - start) * 1000
    rows.append(("local up --demo to Ready (ms)", f"{started_ms:.0f}", "-"))
    rows.append(("local down (ms)", f"{stopped_ms:.0f}", "-"))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'emulator':<28}  reference (bare aiohttp / raw httpx)")
    for name, ours, reference in rows:
        print(f"{name:<{width}}  {ours:<28}  {reference}")


if __name__ == "__main__":
    main()
