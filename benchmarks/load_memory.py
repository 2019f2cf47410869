"""Memory of a long load run: the Locust process' RSS at 1 minute and at the end.

Run: ``.venv/bin/python benchmarks/load_memory.py [--rate 200] [--minutes 3]``, or
``--long`` for 10 minutes. Two arms at ``--rate`` requests/s each (open model) against
its own nginx. The RSS of the Locust process (and of the driver, this process) is sampled
every 10 s; the table shows the samples, and the last line compares the end with the
1-minute mark: per-arm statistics are histograms of fixed size, so memory should stay
flat (within 10%) however long the run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import psutil

from harness.load.driver import LoadDriver
from harness.load.plan import Pacing
from harness.load.targets import url_arm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_nginx import nginx
from load_throughput import machine

SAMPLE_EVERY_S = 10.0
MARK_S = 60.0


def _engine() -> psutil.Process:
    for child in psutil.Process().children(recursive=True):
        if "harness.load.engine" in " ".join(child.cmdline()):
            return child
    raise RuntimeError("no harness.load.engine process found")


def main() -> None:
    """Run once, sample, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--long", action="store_true", help="10 minutes")
    args = parser.parse_args()
    minutes = 10.0 if args.long else args.minutes
    seconds = minutes * 60
    print(f"machine: {machine()}")
    samples: list[tuple[float, int, int, int]] = []
    with nginx() as (url, _), LoadDriver() as driver:
        arms = [url_arm(url, "baseline"), url_arm(f"{url}canary", "canary")]
        driver.start(arms, Pacing.open(rate=args.rate), seconds)
        engine, me = _engine(), psutil.Process()
        next_sample = 0.0
        status = driver.status()
        while not status.finished:
            if status.elapsed_s >= next_sample:
                requests = sum(s.requests for s in status.arms.values())
                samples.append(
                    (status.elapsed_s, requests, engine.memory_info().rss, me.memory_info().rss)
                )
                next_sample += SAMPLE_EVERY_S
            time.sleep(1.0)
            status = driver.status()
        final = driver.finish()
    print(f"\n2 arms x {args.rate:g} req/s (open model), {minutes:g} min")
    print(f"{'t (s)':>7} {'requests':>10} {'Locust RSS MiB':>15} {'driver RSS MiB':>15}")
    for elapsed, requests, engine_rss, driver_rss in samples:
        print(
            f"{elapsed:7.0f} {requests:10d} {engine_rss / 2**20:15.1f} {driver_rss / 2**20:15.1f}"
        )
    at_mark = min(samples, key=lambda s: abs(s[0] - MARK_S))
    end = samples[-1]
    total = sum(s.requests for s in final.arms.values())
    print(f"\nrequests: {total}; errors: {sum(s.failures for s in final.arms.values())}")
    print(
        f"Locust process RSS: {at_mark[2] / 2**20:.1f} MiB at {at_mark[0]:.0f}s, "
        f"{end[2] / 2**20:.1f} MiB at {end[0]:.0f}s: {end[2] / at_mark[2] - 1:+.1%} "
        "(target: within 10%)"
    )
    print(
        f"driver RSS: {at_mark[3] / 2**20:.1f} MiB at {at_mark[0]:.0f}s, "
        f"{end[3] / 2**20:.1f} MiB at {end[0]:.0f}s: {end[3] / at_mark[3] - 1:+.1%}"
    )


if __name__ == "__main__":
    main()
