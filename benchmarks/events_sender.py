"""`harness events` sends >= 0.8x the events/s of plain `harness load` requests (issue 14).

Run: ``.venv/bin/python benchmarks/events_sender.py [--seconds 10] [--users 20] [--rounds 5]``.
Both sides are the same `LoadDriver` (one Locust process, closed model, no think time)
against the same throwaway nginx on loopback that answers every request from memory,
so the load generator is what is measured: the built-in user's GET, and the CloudEvents
user's POST of an event built with the ``cloudevents`` SDK (binary and structured mode),
its id and send time stamped and, once accepted, its id written down. Rounds alternate
so a busy machine slows both sides alike; the ratio is the medians' ratio. Each run is
also counted per CPU-second of its Locust process (the rate that process reaches when
it has a core to itself: steadier than the rate on a shared machine).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness.events.cloudevent import EventShape
from harness.events.sender import accepted_ids, user_code, user_config
from harness.load.driver import LoadDriver
from harness.load.plan import Pacing
from harness.load.targets import url_arm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_nginx import nginx
from load_throughput import machine


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wait(driver: LoadDriver) -> None:
    while not driver.status().finished:
        time.sleep(0.1)  # a status round trip costs the Locust process CPU too


def _plain(url: str, users: int, seconds: float) -> tuple[float, float]:
    """Requests per second, and per CPU-second of the Locust process."""
    cpu = _children_cpu_s()
    with LoadDriver() as driver:
        driver.start([url_arm(url, "plain")], Pacing.closed(users), seconds)
        _wait(driver)
        final = driver.finish()
    requests = final.arms["plain"].requests
    return requests / final.elapsed_s, requests / max(_children_cpu_s() - cpu, 1e-9)


def _events(url: str, users: int, seconds: float, mode: str) -> tuple[float, float]:
    """Events per second, and per CPU-second of the Locust process."""
    arm = url_arm(url, "events")
    cpu = _children_cpu_s()
    with tempfile.TemporaryDirectory() as folder:
        with LoadDriver() as driver:
            pacing = Pacing.closed(users)
            config = user_config(arm, EventShape(mode=mode), "bench0001", Path(folder), pacing)
            driver.start([arm], pacing, seconds, user_code=user_code(config))
            _wait(driver)
            final = driver.finish()
        accepted = len(accepted_ids(Path(folder), "bench0001"))
    sent = final.arms["events"].requests
    if accepted != sent - final.arms["events"].failures:
        raise RuntimeError(f"accepted ids {accepted} != 2xx answers")
    return sent / final.elapsed_s, sent / max(_children_cpu_s() - cpu, 1e-9)


def main() -> None:
    """Alternate rounds, print each, then the medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    names = ("load", "events binary", "events structured")
    rates: dict[str, list[float]] = {name: [] for name in names}
    per_cpu: dict[str, list[float]] = {name: [] for name in names}
    with nginx() as (url, _):
        for round_ in range(args.rounds):
            for name in names:
                if name == "load":
                    rate, cpu = _plain(url, args.users, args.seconds)
                else:
                    rate, cpu = _events(url, args.users, args.seconds, name.split()[1])
                rates[name].append(rate)
                per_cpu[name].append(cpu)
            line = ", ".join(
                f"{k} {v[-1]:,.0f}/s ({per_cpu[k][-1]:,.0f} per CPU-s)" for k, v in rates.items()
            )
            print(f"round {round_ + 1} (load average {os.getloadavg()[0]:.1f}): {line}")
    for table, unit in ((rates, "/s"), (per_cpu, " per CPU-s")):
        base = statistics.median(table["load"])
        for name, values in table.items():
            median = statistics.median(values)
            ratios = sorted(v / p for v, p in zip(values, table["load"], strict=True))
            print(
                f"{name:18s} median {median:8,.0f}{unit:11s} ratio to load {median / base:.2f}"
                f"  (per round {ratios[0]:.2f}-{ratios[-1]:.2f})"
            )


if __name__ == "__main__":
    main()
