"""Router overhead: wrk through the emulator's ingress vs. straight at the revision, side by side.

Starts a data plane (ingress + one revision with ``SIM_LATENCY_MS=0``) in this process,
then alternates wrk runs against the revision directly (the reference) and through the
ingress, so both see the same machine load. Prints a table: requests/s at high
concurrency (target >= 3,000/s through the router) and p50 latency at low concurrency
(target: the router adds <= 1 ms).

    .venv/bin/python benchmarks/emulator_router.py [--rounds 3] [--duration 5]

Needs ``wrk`` (Debian package ``wrk``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from harness.local.dataplane import DataPlane, RevisionSpec, RouteBackend
from harness.local.router import HostRoute

HOST = "hello.default.example.com"
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass(frozen=True)
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    requests: int


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    """The numbers this benchmark needs from ``wrk --latency`` text output."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    total = re.search(r"(\d+) requests in", output)
    if rps is None or p50 is None or p99 is None or total is None:
        raise ValueError(f"cannot parse wrk output:\n{output}")
    return WrkResult(
        requests_per_s=float(rps.group(1)),
        p50_ms=_ms(p50.group(1)),
        p99_ms=_ms(p99.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        requests=int(total.group(1)),
    )


async def wrk(url: str, *, connections: int, duration_s: int, host: str | None) -> WrkResult:
    """One bounded wrk run (one thread) against a loopback URL."""
    args = ["wrk", "-t1", f"-c{connections}", f"-d{duration_s}s", "--latency"]
    if host is not None:
        args += ["-H", f"Host: {host}"]
    proc = await asyncio.create_subprocess_exec(
        *args, url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    return parse_wrk(out.decode())


async def run(rounds: int, duration_s: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-router-") as state:
        plane = DataPlane(Path(state))
        port = await plane.start()
        await plane.ensure_revision(
            RevisionSpec("default", "hello", "hello", "hello-v1", {"SIM_LATENCY_MS": "0"})
        )
        plane.set_routes({HOST: HostRoute((RouteBackend("default", "hello-v1", 100),))})
        while not any(r.ready for r in plane.revisions()):
            await asyncio.sleep(0.05)
        revision = plane.revisions()[0]
        direct_url, router_url = f"http://{revision.address}/", f"http://127.0.0.1:{port}/"
        try:
            warm_up = await wrk(router_url, connections=8, duration_s=1, host=HOST)
            rows: dict[str, list[WrkResult]] = {k: [] for k in ("direct", "router")}
            lat: dict[str, list[WrkResult]] = {k: [] for k in ("direct", "router")}
            for _ in range(rounds):
                rows["direct"].append(
                    await wrk(direct_url, connections=32, duration_s=duration_s, host=HOST)
                )
                rows["router"].append(
                    await wrk(router_url, connections=32, duration_s=duration_s, host=HOST)
                )
                lat["direct"].append(
                    await wrk(direct_url, connections=1, duration_s=duration_s, host=HOST)
                )
                lat["router"].append(
                    await wrk(router_url, connections=1, duration_s=duration_s, host=HOST)
                )
            counted = await _counted_by_revision(f"http://{revision.metrics_address}/metrics")
        finally:
            await plane.close()
    _print_table(rows, lat, rounds, duration_s)
    sent = warm_up.requests + sum(r.requests for r in rows["direct"] + rows["router"])
    sent += sum(r.requests for r in lat["direct"] + lat["router"])
    # wrk counts only completed responses, the revision also those cut off at the end.
    print(f"cross-check: wrk completed {sent} requests, the revision counted {counted:.0f}")


async def _counted_by_revision(metrics_url: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(metrics_url) as response:
        text = await response.text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("revision_request_count{")
    )


def _print_table(
    rows: dict[str, list[WrkResult]], lat: dict[str, list[WrkResult]], rounds: int, dur: int
) -> None:
    def med(values: list[float]) -> float:
        return statistics.median(values)

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (1 min)")
    print(f"{rounds} alternating rounds of {dur} s per cell; medians over rounds")
    print()
    columns = ("req/s (c=32)", "p50 ms (c=1)", "p99 ms (c=1)", "non-2xx")
    print(f"{'path':<8}" + "".join(f"{c:>14}" for c in columns))
    for name in ("direct", "router"):
        cells = (
            f"{med([r.requests_per_s for r in rows[name]]):.0f}",
            f"{med([r.p50_ms for r in lat[name]]):.3f}",
            f"{med([r.p99_ms for r in lat[name]]):.3f}",
            str(sum(r.non_2xx for r in rows[name] + lat[name])),
        )
        print(f"{name:<8}" + "".join(f"{c:>14}" for c in cells))
    added = [r.p50_ms - d.p50_ms for r, d in zip(lat["router"], lat["direct"], strict=True)]
    per_round = ", ".join(f"{a:.3f}" for a in added)
    print()
    print(f"router throughput: {med([r.requests_per_s for r in rows['router']]):.0f} req/s")
    print("  (target >= 3000)")
    print(f"p50 added by the router: {med(added):.3f} ms (target <= 1 ms); rounds: {per_round}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    asyncio.run(run(args.rounds, args.duration))


if __name__ == "__main__":
    main()
