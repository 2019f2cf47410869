"""Bounds on the load one machine is asked to generate (docs/contracts.md, "Limits").

One Locust process sends at most a few thousand requests per second, and a machine's
loopback with a server on it some tens of thousands; a rate far beyond that does not
test the target, it saturates the load generator and the machine (``--rate 1e12``). The
bounds are totals over all arms, so a canary's two arms share them.
"""

from __future__ import annotations

import os

# Requests per second over all arms: above any one machine's loopback throughput.
MAX_TOTAL_RATE = 100_000
# Users (Locust greenlets) over all arms; per arm `harness.load.plan.MAX_USERS_PER_ARM`.
MAX_TOTAL_USERS = 10_000
# Local Locust worker processes per CPU core: each one imports Locust (about a second of
# CPU) and runs its own event loop; more than a few per core only queue for the CPU.
WORKERS_PER_CORE = 4


def max_local_workers() -> int:
    """The most ``--workers`` this machine runs: `WORKERS_PER_CORE` per usable core."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return WORKERS_PER_CORE * max(1, cores)
