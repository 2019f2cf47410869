"""The reference of the load benchmarks: plain Locust, a bare ``FastHttpUser``, one process.

``python benchmarks/load_reference_locust.py URL USERS SECONDS`` runs Locust as a library
(an `Environment` and its `LocalRunner`, as the harness does) with a user that GETs ``/``
and nothing else. It measures from 1 s in (users spawned) to the end and prints
``{"requests": n, "seconds": x, "cpu_s": x}`` for that window (cpu_s: this process).
"""

from __future__ import annotations

import json
import sys
import time

import gevent
from locust import FastHttpUser, task
from locust.env import Environment

WARMUP_S = 1.0


class PlainUser(FastHttpUser):
    """GET / as fast as the answers come."""

    @task
    def index(self) -> None:
        """One request."""
        self.client.get("/")


def main() -> None:
    """Run, then print the request count and the run time."""
    url, users, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    PlainUser.host = url.rstrip("/")
    environment = Environment(user_classes=[PlainUser])
    runner = environment.create_local_runner()
    runner.start(users, spawn_rate=float(users))
    gevent.sleep(WARMUP_S)
    requests, wall, cpu = (
        environment.stats.total.num_requests,
        time.monotonic(),
        time.process_time(),
    )
    gevent.sleep(seconds - WARMUP_S)
    requests = environment.stats.total.num_requests - requests
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    runner.stop()
    print(json.dumps({"requests": requests, "seconds": wall, "cpu_s": cpu}))


if __name__ == "__main__":
    main()
