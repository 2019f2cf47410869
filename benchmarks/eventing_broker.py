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

    .venv/bin/python benchmarks/eventing_broker.py [--rates 300,500,1000] [--duration 10]
        [--rounds 5]
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
from urllib.parse import urlsplit

import aiohttp

from harness.local.eventing.engine import INGRESS_HOST, Eventing
from harness.local.eventing.http1 import Client, HTTPError
from harness.local.eventing.metrics import EventingMetrics
from harness.local.objectstore import ObjectStore
from harness.local.router import HostRoute, RouteBackend, Router

SUBSCRIBER_HOST = "sink.default.svc.cluster.local"
# The generator's requests in flight at most: when the machine cannot keep the rate it
# falls behind (the sent rate shows it) instead of piling up connections.
MAX_IN_FLIGHT = 32
PLAIN_HOST = "sink.default.example.com"


# ----- the receiver process -----

_ARRIVALS: dict[str, float] = {}


class _ReceiverProtocol(asyncio.Protocol):
    """A minimal HTTP/1.1 server (keep-alive, Content-Length bodies): notes when each POST
    arrives (by ``ce-id`` or ``X-Bench-Id``), answers 200; ``GET /report`` gives the notes
    since the last report. Lean so that the machine's CPU goes to the emulator."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < end + 4 + length:
                return
            del self.buffer[: end + 4 + length]
            now = time.time()
            assert self.transport is not None
            if lines[0].startswith("GET /report"):
                body = json.dumps(_ARRIVALS).encode()
                _ARRIVALS.clear()
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                continue
            key = headers.get("ce-id") or headers.get("x-bench-id") or ""
            _ARRIVALS[key] = now
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")


async def _receiver() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_ReceiverProtocol, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


# ----- the generator process -----


async def _generator(url: str, mode: str, rate: float, duration: float) -> None:
    """Open loop at ``rate``, at most MAX_IN_FLIGHT requests in flight, on the emulator's
    lean keep-alive client (so that the generator is not what runs out of CPU)."""
    sent: dict[str, float] = {}
    codes: dict[int, int] = {}
    client = Client(timeout=30.0, connect_timeout=5.0)
    address = urlsplit(url)
    host, port = address.hostname or "127.0.0.1", address.port or 80
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
    body = b"x" * 64

    async def one(key: str) -> None:
        async with in_flight:
            await send(key)

    async def send(key: str) -> None:
        if mode == "broker":
            data = (
                f"POST /default/default HTTP/1.1\r\nHost: {INGRESS_HOST}\r\n"
                f"Content-Length: {len(body)}\r\nce-specversion: 1.0\r\nce-id: {key}\r\n"
                "ce-source: /bench\r\nce-type: bench\r\nContent-Type: text/plain\r\n\r\n"
            ).encode() + body
        else:
            data = (
                f"POST / HTTP/1.1\r\nHost: {PLAIN_HOST}\r\nContent-Length: {len(body)}\r\n"
                f"X-Bench-Id: {key}\r\nContent-Type: text/plain\r\n\r\n"
            ).encode() + body
        sent[key] = time.time()
        try:
            answer = await client.send(host, port, data)
            codes[answer.status] = codes.get(answer.status, 0) + 1
        except HTTPError:
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
    client.close()
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
    cpu_ms_per_request: float  # this process's CPU per request arrived


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
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
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
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    times = sorted(arrivals.values())
    span = times[-1] - times[0] if len(times) > 1 else float("nan")
    return ClosedLoop(
        answered_per_s=float(rps.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        arrived=len(times),
        arrived_per_s=len(times) / span,
        cpu_ms_per_request=cpu_s * 1000 / max(len(times), 1),
    )


async def _bench(rates: list[float], duration: float, rounds: int) -> list[dict[str, Any]]:
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
        receiver_url = f"http://127.0.0.1:{port}"
        results = []
        for round_ in range(1, rounds + 1):
            result: dict[str, Any] = {"round": round_, "load": os.getloadavg()[0], "rates": {}}
            for rate in rates:
                # Odd rounds run the plain path first, even rounds the broker path.
                order = ("plain", "broker") if round_ % 2 else ("broker", "plain")
                paths = {
                    mode: await _run_path(mode, ingress, receiver_url, rate, duration)
                    for mode in order
                }
                plain, broker = paths["plain"], paths["broker"]
                result["rates"][rate] = (plain, broker)
            if shutil.which("wrk"):
                with tempfile.TemporaryDirectory() as scripts:
                    for mode in ("plain", "broker"):
                        result[f"wrk_{mode}"] = await _wrk_path(
                            mode, ingress, receiver_url, duration, scripts
                        )
            result["load_after"] = os.getloadavg()[0]
            results.append(result)
        return results
    finally:
        await eventing.close()
        await router.close()
        receiver.terminate()
        receiver.wait(5)


def _report(results: list[dict[str, Any]], rates: list[float], duration: float) -> None:
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"open loop for {duration:.0f} s per path, rate and round")
    print(
        "round  load  rate  path    sent  sent/s  2xx   arrived  arrived/s  p50 ms  p99 ms"
        "  cpu ms/req  added p50 ms"
    )
    added: dict[float, list[float]] = {rate: [] for rate in rates}
    cpu: dict[str, list[float]] = {"plain": [], "broker": []}
    for r in results:
        for rate in rates:
            plain, broker = r["rates"][rate]
            added[rate].append(broker.p50_ms - plain.p50_ms)
            for name, p in (("plain", plain), ("broker", broker)):
                cpu[name].append(p.cpu_ms_per_request)
                extra = f"{broker.p50_ms - plain.p50_ms:12.2f}" if name == "broker" else ""
                print(
                    f"{r['round']:5d} {r['load']:5.1f} {rate:5.0f}  {name:6s} {p.sent:5d} "
                    f"{p.sent_per_s:7.0f} {p.ok:5d} {p.arrived:8d} "
                    f"{p.arrived_per_s:9.0f} {p.p50_ms:7.2f} {p.p99_ms:7.2f} "
                    f"{p.cpu_ms_per_request:10.3f}{extra}"
                )
    if all("wrk_plain" in r for r in results):
        print("closed loop (wrk, 16 connections):")
        print("round  load  path    answered/s  non-2xx  arrived  arrived/s  cpu ms/req")
        for r in results:
            for name in ("plain", "broker"):
                c = r[f"wrk_{name}"]
                print(
                    f"{r['round']:5d} {r['load_after']:5.1f}  {name:6s} {c.answered_per_s:11.0f} "
                    f"{c.non_2xx:8d} {c.arrived:8d} {c.arrived_per_s:10.0f} "
                    f"{c.cpu_ms_per_request:10.3f}"
                )
        closed = [r["wrk_broker"].arrived_per_s for r in results]
        print(
            f"broker path closed loop: median {statistics.median(closed):.0f} delivered/s "
            f"(range {min(closed):.0f}-{max(closed):.0f})"
        )
    else:
        print("wrk is not installed: no closed-loop runs (apt-get install wrk)")
    for rate in rates:
        values = added[rate]
        print(
            f"added p50 at {rate:.0f}/s: median {statistics.median(values):.2f} ms "
            f"(range {min(values):.2f} to {max(values):.2f}; bar <= 2 ms)"
        )
    for name in ("plain", "broker"):
        print(
            f"{name}: emulator CPU per request/event, median {statistics.median(cpu[name]):.3f} ms"
        )
    lost = sum(b.sent - b.arrived for r in results for _, b in r["rates"].values())
    print(f"broker path: {lost} events not delivered")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", choices=["bench", "receiver", "generator"], default="bench")
    parser.add_argument("--url", default="")
    parser.add_argument("--mode", choices=["plain", "broker"], default="plain")
    parser.add_argument("--rate", type=float, default=1000.0, help="the generator's rate")
    parser.add_argument(
        "--rates", default="300,500,1000", help="open-loop rates per round (requests/events per s)"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per path")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if args.role == "receiver":
        asyncio.run(_receiver())
        return 0
    if args.role == "generator":
        asyncio.run(_generator(args.url, args.mode, args.rate, args.duration))
        return 0
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    results = asyncio.run(_bench(rates, args.duration, args.rounds))
    _report(results, rates, args.duration)
    return 0


if __name__ == "__main__":
    sys.exit(main())
