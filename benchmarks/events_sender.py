"""`harness events` sends >= 0.8x the events/s of plain `harness load` requests (issue 14).

Run: ``.venv/bin/python benchmarks/events_sender.py [--seconds 10] [--users 20] [--rounds 3]``.
Both sides are the same `LoadDriver` (one Locust process, closed model, no think time)
against the same throwaway nginx on loopback that answers every request from memory,
so the load generator is what is measured: the built-in user's GET, and the CloudEvents
user's POST of an event built with the ``cloudevents`` SDK (binary and structured mode),
its id and send time stamped and, once accepted, its id written down. Rounds alternate
so a busy machine slows both sides alike; the ratio is the medians' ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from harness.events.cloudevent import EventShape
from harness.events.sender import accepted_ids, user_code, user_config
from harness.load.driver import LoadDriver
from harness.load.plan import Pacing
from harness.load.targets import url_arm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_nginx import nginx
from load_throughput import machine


def _plain(url: str, users: int, seconds: float) -> float:
    with LoadDriver() as driver:
        driver.start([url_arm(url, "plain")], Pacing.closed(users), seconds)
        status = driver.status()
        while not status.finished:
            status = driver.status()
        final = driver.finish()
    return final.arms["plain"].requests / final.elapsed_s


def _events(url: str, users: int, seconds: float, mode: str) -> float:
    arm = url_arm(url, "events")
    with tempfile.TemporaryDirectory() as folder, LoadDriver() as driver:
        pacing = Pacing.closed(users)
        config = user_config(arm, EventShape(mode=mode), "bench0001", Path(folder), pacing)
        driver.start([arm], pacing, seconds, user_code=user_code(config))
        status = driver.status()
        while not status.finished:
            status = driver.status()
        final = driver.finish()
        accepted = len(accepted_ids(Path(folder), "bench0001"))
    sent = final.arms["events"].requests
    if accepted != sent - final.arms["events"].failures:
        raise RuntimeError(f"accepted ids {accepted} != 2xx answers")
    return sent / final.elapsed_s


def main() -> None:
    """Alternate rounds, print each, then the medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    rates: dict[str, list[float]] = {"load": [], "events binary": [], "events structured": []}
    with nginx() as (url, _):
        for round_ in range(args.rounds):
            rates["load"].append(_plain(url, args.users, args.seconds))
            rates["events binary"].append(_events(url, args.users, args.seconds, "binary"))
            rates["events structured"].append(_events(url, args.users, args.seconds, "structured"))
            line = ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in rates.items())
            print(f"round {round_ + 1}: {line}")
    load = statistics.median(rates["load"])
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"{name:18s} median {median:8,.0f}/s  ratio to load {median / load:.2f}")


if __name__ == "__main__":
    main()
