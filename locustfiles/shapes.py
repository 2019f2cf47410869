"""Load shapes: how many users run at each second of a run (steady, ramp, spike, soak).

Each shape counts users per arm and multiplies by the number of arms, so every arm gets
the same load at every moment. With the built-in user's open model each user has a fixed
rate, so a shape scales the arrival rate in proportion to its user count.

Constructed with defaults (10 users per arm, 60 s), they also work in a plain locustfile.
"""

from __future__ import annotations

import math
from abc import abstractmethod

from locust import LoadTestShape


class HarnessShape(LoadTestShape):
    """A shape over ``duration_s`` seconds with a base of ``users`` users per arm."""

    abstract = True

    def __init__(self, users: int = 10, duration_s: float = 60.0, arm_count: int = 1) -> None:
        super().__init__()
        self.users = users
        self.duration_s = duration_s
        self.arm_count = arm_count

    @abstractmethod
    def users_at(self, elapsed_s: float) -> int:
        """Users per arm ``elapsed_s`` seconds into the run."""

    def tick(self) -> tuple[int, float] | None:
        """Locust's shape callback: (total users, spawn rate), or None once the run is over."""
        elapsed = self.get_run_time()
        if elapsed >= self.duration_s:
            return None
        total = self.users_at(elapsed) * self.arm_count
        # Reach each new level within about a second: shapes describe levels, not ramps.
        return total, float(max(total, 1))


class SteadyShape(HarnessShape):
    """The same users for the whole run."""

    def users_at(self, elapsed_s: float) -> int:
        """Always ``users``."""
        return self.users


class RampShape(HarnessShape):
    """A linear climb from 1 user to ``users`` over the whole run (to find where it bends)."""

    def users_at(self, elapsed_s: float) -> int:
        """``ceil(users * elapsed / duration)``, at least 1."""
        return max(1, math.ceil(self.users * elapsed_s / self.duration_s))


class SpikeShape(HarnessShape):
    """``users`` throughout, and ``factor`` times as many for ``spike_fraction`` of the run
    starting at its middle."""

    factor = 5
    spike_fraction = 0.1

    def users_at(self, elapsed_s: float) -> int:
        """``users * factor`` inside the spike window, else ``users``."""
        start = self.duration_s / 2
        if start <= elapsed_s < start + self.duration_s * self.spike_fraction:
            return self.users * self.factor
        return self.users


class SoakShape(HarnessShape):
    """A warm-up ramp (10% of the run, at most 60 s), then ``users`` for hours if asked."""

    def users_at(self, elapsed_s: float) -> int:
        """A linear ramp during the warm-up, then ``users``."""
        warmup = min(60.0, self.duration_s / 10)
        if elapsed_s < warmup:
            return max(1, math.ceil(self.users * elapsed_s / warmup))
        return self.users


SHAPES: dict[str, type[HarnessShape]] = {
    "steady": SteadyShape,
    "ramp": RampShape,
    "spike": SpikeShape,
    "soak": SoakShape,
}
