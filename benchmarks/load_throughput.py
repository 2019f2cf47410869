"""Throughput of the harness load path next to plain Locust and wrk, against one nginx.

Run: ``.venv/bin/python benchmarks/load_throughput.py [--users 10] [--seconds 10] [--rounds 3]``

Starts its own nginx (loopback, free port, temp prefix, ``daemon off``) and, in rounds,
runs one after another (never at once, they would share the CPU):

- wrk (``-t1 -c<users>``): what the server and the loopback can do;
- plain Locust: a bare ``FastHttpUser`` on a `LocalRunner` in one process;
- the harness: `LoadDriver` (one Locust process, the built-in `HelloUser`, per-arm
  statistics, K-Revision attribution, snapshots every 250 ms as the CLI takes them).

Same users and spawn rate; each is measured from 1 s in (users spawned) for ``--seconds``.
Prints one table: requests/s (median of the rounds, and every round) and requests per
CPU-second of the load-generating process, which the other tenants of a shared machine
disturb much less than requests/s; then the harness-to-plain ratios (target >= 90%).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from harness.load.driver import LoadDriver
from harness.load.plan import Pacing
from harness.load.targets import url_arm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_nginx import nginx

REFERENCE = Path(__file__).with_name("load_reference_locust.py")
WARMUP_S = 1.0


@dataclass(frozen=True)
class Measure:
    """Requests/s over the measured window, and requests per CPU-second of the generator."""

    rps: float
    per_cpu_s: float | None


def run_wrk(url: str, users: int, seconds: float) -> Measure:
    """wrk's requests/s with one thread and ``users`` connections."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{users}", f"-d{max(1, round(seconds))}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"unexpected wrk output: {out}")
    return Measure(float(match.group(1)), None)


def run_plain_locust(url: str, users: int, seconds: float) -> Measure:
    """Plain Locust, from 1 s in to the end (see load_reference_locust.py)."""
    out = subprocess.run(
        [sys.executable, str(REFERENCE), url, str(users), str(seconds)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return Measure(result["requests"] / result["seconds"], result["requests"] / result["cpu_s"])


def _engine_cpu_s() -> float:
    """CPU seconds so far of the Locust process the driver started (a child of this one)."""
    for child in psutil.Process().children(recursive=True):
        if "harness.load.engine" in " ".join(child.cmdline()):
            times = child.cpu_times()
            return float(times.user + times.system)
    raise RuntimeError("no harness.load.engine process found")


def run_harness(url: str, users: int, seconds: float) -> Measure:
    """The harness load path, polled every 250 ms as the CLI polls it, from 1 s in."""
    with LoadDriver() as driver:
        driver.start([url_arm(url, "a")], Pacing.closed(users=users), seconds + 1.0)
        time.sleep(WARMUP_S)
        first, first_cpu = driver.status(), _engine_cpu_s()
        last = first
        while last.elapsed_s < first.elapsed_s + seconds - WARMUP_S:
            time.sleep(0.25)
            last = driver.status()
        last_cpu = _engine_cpu_s()
        driver.finish()
    requests = last.arms["a"].requests - first.arms["a"].requests
    return Measure(requests / (last.elapsed_s - first.elapsed_s), requests / (last_cpu - first_cpu))


def machine() -> str:
    """CPU model, core count and load average: the context the numbers were taken in."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return f"{model}, {os.cpu_count()} cores, load average {load}"


def main() -> None:
    """Run the rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    contenders: dict[str, Callable[[str, int, float], Measure]] = {
        "wrk -t1 (server ceiling)": run_wrk,
        "plain Locust FastHttpUser": run_plain_locust,
        "harness LoadDriver": run_harness,
    }
    results: dict[str, list[Measure]] = {name: [] for name in contenders}
    print(f"machine: {machine()}")
    with nginx() as (url, _):
        for _ in range(args.rounds):
            for name, run in contenders.items():
                results[name].append(run(url, args.users, args.seconds))
    print(f"\n{args.users} users, {args.seconds:g}s per run, {args.rounds} rounds (interleaved)")
    print(f"{'':28} {'req/s':>8} {'req/CPU-s':>10}   req/s of each round")
    for name, values in results.items():
        rps = statistics.median(v.rps for v in values)
        per_cpu = [v.per_cpu_s for v in values if v.per_cpu_s is not None]
        efficiency = f"{statistics.median(per_cpu):10.0f}" if per_cpu else f"{'-':>10}"
        rounds = "  ".join(f"{v.rps:7.0f}" for v in values)
        print(f"{name:28} {rps:8.0f} {efficiency}   {rounds}")
    plain, harness = results["plain Locust FastHttpUser"], results["harness LoadDriver"]
    for label, pick in (("req/s", "rps"), ("req/CPU-s", "per_cpu_s")):
        ratio = statistics.median(getattr(v, pick) for v in harness) / statistics.median(
            getattr(v, pick) for v in plain
        )
        print(f"harness / plain Locust, {label}: {ratio:.1%} (target >= 90%)")
    print(f"after: load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
