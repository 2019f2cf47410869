"""The broker path vs. plain HTTP through the router, side by side (issue 14's bar: the broker
path sustains >= 1,000 events/s with <= 2 ms added p50).

This process runs the emulator's ingress (the real ``Router``) and its Eventing (the real
``Eventing``: broker ingress, filter, dispatcher, metrics) on one asyncio loop, as the
daemon does, with Broker ``default`` and a Trigger whose subscriber is a ``ref``-style
cluster-local host served through the router. Two more processes: a receiver (the
subscriber and the plain path's backend: it notes when each request arrives) and an
open-loop generator (sends at a fixed rate, notes when each request left).

Each round runs the plain path (POST through the router to the receiver) and then the
broker path (a CloudEvent to the broker ingress through the router; the dispatcher
delivers it through the router to the receiver) at the same rate. Latency is one-way,
send to arrival at the receiver, for both paths (same clock); "added p50" is the broker
path's p50 minus the plain path's in the same round.

Then, where ``wrk`` is installed (Debian package ``wrk``), a closed-loop run per path
(wrk, 16 connections, unique ids from a Lua script) shows the most each path sustains:
requests answered per second and events the receiver got per second.

    .venv/bin/python benchmarks/eventing_broker.py [--rate 1000] [--duration 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from harness.local.eventing.engine import INGRESS_HOST, Eventing
from harness.local.eventing.metrics import EventingMetrics
from harness.local.objectstore import ObjectStore
from harness.local.router import HostRoute, RouteBackend, Router

SUBSCRIBER_HOST = "sink.default.svc.cluster.local"
# The generator's requests in flight at most: when the machine cannot keep the rate it
# falls behind (the sent rate shows it) instead of piling up connections.
MAX_IN_FLIGHT = 32
PLAIN_HOST = "sink.default.example.com"


# ----- the receiver process -----


async def _receiver() -> None:
    arrivals: dict[str, float] = {}

    async def receive(request: web.Request) -> web.Response:
        now = time.time()
        await request.read()
        key = request.headers.get("ce-id") or request.headers.get("X-Bench-Id") or ""
        arrivals[key] = now
        return web.Response(status=200)

    async def report(request: web.Request) -> web.Response:
        body = json.dumps(arrivals)
        arrivals.clear()
        return web.Response(text=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/report", report)
    app.router.add_post("/{tail:.*}", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()


# ----- the generator process -----


async def _generator(url: str, mode: str, rate: float, duration: float) -> None:
    sent: dict[str, float] = {}
    codes: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=0)
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(key: str) -> None:
            async with in_flight:
                await send(key)

        async def send(key: str) -> None:
            if mode == "broker":
                headers = {
                    "Host": INGRESS_HOST,
                    "ce-specversion": "1.0",
                    "ce-id": key,
                    "ce-source": "/bench",
                    "ce-type": "bench",
                    "Content-Type": "text/plain",
                }
                target = f"{url}/default/default"
            else:
                headers = {"Host": PLAIN_HOST, "X-Bench-Id": key, "Content-Type": "text/plain"}
                target = f"{url}/"
            sent[key] = time.time()
            try:
                async with session.post(target, data=b"x" * 64, headers=headers) as answer:
                    await answer.read()
                    codes[answer.status] = codes.get(answer.status, 0) + 1
            except aiohttp.ClientError:
                codes[0] = codes.get(0, 0) + 1

        loop = asyncio.get_running_loop()
        start = loop.time()
        tasks = []
        n = int(rate * duration)
        for i in range(n):
            delay = start + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(uuid.uuid4().hex)))
        await asyncio.gather(*tasks)
        elapsed = loop.time() - start
    print(json.dumps({"sent": sent, "codes": codes, "elapsed": elapsed}), flush=True)


# ----- orchestration -----


@dataclass
class PathResult:
    sent: int
    sent_per_s: float
    arrived: int
    ok: int
    p50_ms: float
    p99_ms: float
    arrived_per_s: float
    cpu_ms_per_request: float  # this process's CPU (router + eventing) per request


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )


async def _run_path(
    mode: str, ingress: str, receiver: str, rate: float, duration: float
) -> PathResult:
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--role", "generator", "--url", ingress, "--mode", mode,
        "--rate", str(rate), "--duration", str(duration), stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    report = json.loads(out)
    sent: dict[str, float] = report["sent"]
    async with aiohttp.ClientSession() as session:
        arrivals: dict[str, float] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            async with session.get(f"{receiver}/report") as answer:
                arrivals.update(await answer.json())
            if len(arrivals) >= len(sent):
                break
            await asyncio.sleep(0.2)
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    latencies = sorted((arrivals[k] - t) * 1000 for k, t in sent.items() if k in arrivals)
    ok = sum(n for code, n in report["codes"].items() if 200 <= int(code) < 300)
    first, last = min(sent.values()), max(arrivals.values(), default=0.0)
    return PathResult(
        sent=len(sent),
        sent_per_s=len(sent) / max(max(sent.values()) - first, 1e-9),
        arrived=len(latencies),
        ok=ok,
        p50_ms=statistics.median(latencies) if latencies else float("nan"),
        p99_ms=latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan"),
        arrived_per_s=len(latencies) / max(last - first, 1e-9),
        cpu_ms_per_request=cpu_s * 1000 / max(len(sent), 1),
    )


_WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = string.rep("x", 64)
wrk.headers["Content-Type"] = "text/plain"
local n = 0
local prefix = tostring(math.random(1, 1000000000))
request = function()
  n = n + 1
  wrk.headers["%s"] = prefix .. "-" .. n
  return wrk.format()
end
"""


@dataclass
class ClosedLoop:
    answered_per_s: float
    non_2xx: int
    arrived: int
    arrived_per_s: float


async def _wrk_path(
    mode: str, ingress: str, receiver: str, duration: float, script_dir: str
) -> ClosedLoop:
    broker = mode == "broker"
    script = os.path.join(script_dir, f"{mode}.lua")
    with open(script, "w") as f:
        f.write(_WRK_SCRIPT % ("ce-id" if broker else "X-Bench-Id"))
    headers = (
        ["-H", f"Host: {INGRESS_HOST}", "-H", "ce-specversion: 1.0", "-H", "ce-source: /bench",
         "-H", "ce-type: bench"]
        if broker
        else ["-H", f"Host: {PLAIN_HOST}"]
    )  # fmt: skip
    url = f"{ingress}/default/default" if broker else f"{ingress}/"
    proc = await asyncio.create_subprocess_exec(
        "wrk", "-t1", "-c16", f"-d{int(duration)}s", "-s", script, *headers, url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out = (await proc.communicate())[0].decode()
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if rps is None:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    arrivals: dict[str, float] = {}
    async with aiohttp.ClientSession() as session:
        quiet = 0
        while quiet < 3:  # until the backlog is drained
            await asyncio.sleep(0.5)
            async with session.get(f"{receiver}/report") as answer:
                got = await answer.json()
            arrivals.update(got)
            quiet = quiet + 1 if not got else 0
    times = sorted(arrivals.values())
    span = times[-1] - times[0] if len(times) > 1 else float("nan")
    return ClosedLoop(
        answered_per_s=float(rps.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        arrived=len(times),
        arrived_per_s=len(times) / span,
    )


async def _bench(rate: float, duration: float, rounds: int) -> list[dict[str, Any]]:
    receiver = _spawn("--role", "receiver")
    assert receiver.stdout is not None
    port = int(receiver.stdout.readline())
    router = Router()
    store = ObjectStore()
    eventing = Eventing(store, EventingMetrics("legacy"))
    try:
        route = HostRoute(backends=(RouteBackend("default", "sink", 100),))
        router.set_routes({SUBSCRIBER_HOST: route, PLAIN_HOST: route})
        router.set_endpoints("default", "sink", [f"127.0.0.1:{port}"])
        router.set_local_host(INGRESS_HOST, eventing.handle_ingress)
        ingress_port = await router.start()
        ingress = f"http://127.0.0.1:{ingress_port}"
        await eventing.start(ingress, router)
        meta = {"namespace": "default", "resourceVersion": "1", "generation": 1}
        store.put("brokers", {"metadata": {"name": "default", **meta}, "spec": {}})
        store.put(
            "triggers",
            {
                "metadata": {"name": "bench", **meta},
                "spec": {"broker": "default", "subscriber": {"uri": f"http://{SUBSCRIBER_HOST}"}},
            },
        )
        results = []
        for round_ in range(1, rounds + 1):
            plain = await _run_path("plain", ingress, f"http://127.0.0.1:{port}", rate, duration)
            broker = await _run_path("broker", ingress, f"http://127.0.0.1:{port}", rate, duration)
            result: dict[str, Any] = {"round": round_, "plain": plain, "broker": broker}
            if shutil.which("wrk"):
                with tempfile.TemporaryDirectory() as scripts:
                    receiver_url = f"http://127.0.0.1:{port}"
                    for mode in ("plain", "broker"):
                        result[f"wrk_{mode}"] = await _wrk_path(
                            mode, ingress, receiver_url, duration, scripts
                        )
            results.append(result)
        return results
    finally:
        await eventing.close()
        await router.close()
        receiver.terminate()
        receiver.wait(5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", choices=["bench", "receiver", "generator"], default="bench")
    parser.add_argument("--url", default="")
    parser.add_argument("--mode", choices=["plain", "broker"], default="plain")
    parser.add_argument("--rate", type=float, default=1000.0, help="requests (events) per s")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per path")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.role == "receiver":
        asyncio.run(_receiver())
        return 0
    if args.role == "generator":
        asyncio.run(_generator(args.url, args.mode, args.rate, args.duration))
        return 0
    results = asyncio.run(_bench(args.rate, args.duration, args.rounds))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"open loop at {args.rate:.0f}/s for {args.duration:.0f} s per path and round")
    print(
        "round  path    sent  sent/s  2xx   arrived  arrived/s  p50 ms  p99 ms  cpu ms/req"
        "  added p50 ms"
    )
    added = []
    for r in results:
        plain, broker = r["plain"], r["broker"]
        added.append(broker.p50_ms - plain.p50_ms)
        for name, p in (("plain", plain), ("broker", broker)):
            extra = f"{broker.p50_ms - plain.p50_ms:12.2f}" if name == "broker" else ""
            print(
                f"{r['round']:5d}  {name:6s} {p.sent:5d} {p.sent_per_s:7.0f} {p.ok:5d} "
                f"{p.arrived:8d} "
                f"{p.arrived_per_s:9.0f} {p.p50_ms:7.2f} {p.p99_ms:7.2f} "
                f"{p.cpu_ms_per_request:10.3f}{extra}"
            )
    if all("wrk_plain" in r for r in results):
        print("closed loop (wrk, 16 connections):")
        print("round  path    answered/s  non-2xx  arrived  arrived/s")
        for r in results:
            for name in ("plain", "broker"):
                c = r[f"wrk_{name}"]
                print(
                    f"{r['round']:5d}  {name:6s} {c.answered_per_s:11.0f} {c.non_2xx:8d} "
                    f"{c.arrived:8d} {c.arrived_per_s:10.0f}"
                )
    else:
        print("wrk is not installed: no closed-loop runs (apt-get install wrk)")
    rates = [r["broker"].arrived_per_s for r in results]
    lost = sum(r["broker"].sent - r["broker"].arrived for r in results)
    print(
        f"broker path: median {statistics.median(rates):.0f} events/s delivered, "
        f"{lost} not delivered; added p50 median {statistics.median(added):.2f} ms "
        "(bar: >= 1000/s, <= 2 ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
