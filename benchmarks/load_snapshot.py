"""What a snapshot costs the caller: `LoadDriver.status()` next to a bare socket round trip.

Run: ``.venv/bin/python benchmarks/load_snapshot.py [--arms 2] [--count 300]``

The driver runs Locust in a child process, so a snapshot is a request on a local socket:
the Locust process folds its pending latencies into the histograms and serialises every
arm; the caller parses the reply into `ArmStats`. Measured while load runs (open model,
``--rate`` per arm against its own nginx), next to the floor: a one-line JSON ping-pong
with a plain child process over the same kind of socket.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from harness.load.channel import Channel
from harness.load.driver import LoadDriver
from harness.load.plan import Pacing
from harness.load.targets import url_arm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_nginx import nginx
from load_throughput import machine

_ECHO = """
import socket, sys
s = socket.socket(fileno=int(sys.argv[1]))
f = s.makefile("rwb")
for line in f:
    f.write(line)
    f.flush()
"""


def _quantiles(values: list[float]) -> str:
    values = sorted(values)
    p99 = values[min(len(values) - 1, int(0.99 * len(values)))]
    return f"{statistics.median(values):8.3f} {p99:8.3f} {max(values):8.3f}"


def bare_round_trips(count: int) -> list[float]:
    """Milliseconds of ``count`` JSON-line echoes with a child process."""
    mine, theirs = socket.socketpair()
    child = subprocess.Popen(
        [sys.executable, "-c", _ECHO, str(theirs.fileno())], pass_fds=[theirs.fileno()]
    )
    theirs.close()
    channel = Channel(mine)
    timings = []
    for i in range(count):
        started = time.perf_counter()
        channel.send({"op": "ping", "id": i})
        channel.receive()
        timings.append((time.perf_counter() - started) * 1000)
    channel.close()
    child.wait(timeout=10)
    return timings


def snapshots(url: str, arms: int, rate: float, count: int) -> tuple[list[float], int]:
    """Milliseconds of ``count`` `status()` calls while load runs; and the reply's size."""
    targets = [url_arm(f"{url}{i}", f"arm-{i}") for i in range(arms)]
    timings = []
    with LoadDriver() as driver:
        driver.start(targets, Pacing.open(rate=rate), duration_s=600.0)
        time.sleep(2.0)  # latencies in every arm's histogram
        for _ in range(count):
            started = time.perf_counter()
            status = driver.status()
            timings.append((time.perf_counter() - started) * 1000)
            time.sleep(0.01)
        driver.finish()
    buckets = sum(int((s.latency.counts > 0).sum()) for s in status.arms.values())
    return timings, buckets


def main() -> None:
    """Measure both and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", type=int, default=2)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--count", type=int, default=300)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    floor = bare_round_trips(args.count)
    with nginx() as (url, _):
        timed, buckets = snapshots(url, args.arms, args.rate, args.count)
    print(f"\n{args.count} calls; {args.arms} arms at {args.rate:g} req/s each while measured")
    print(f"{'':36} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    print(f"{'bare JSON-line round trip':36} {_quantiles(floor)}")
    print(f"{'LoadDriver.status() (' + str(buckets) + ' buckets)':36} {_quantiles(timed)}")


if __name__ == "__main__":
    main()
