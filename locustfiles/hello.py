"""The built-in user for hello-style services: GET one path, as the pacing allows.

Requests are named after the user's arm, so Locust's statistics and the harness' per-arm
recorder key on the same name. Pacing:

* closed model (``interval_s`` None): send, wait for the answer, think ``think_s``, repeat;
* open model: request k of a user is due at ``start + phase + k * interval_s``. A user
  sleeps until the due time, or sends at once when it is late, and reports how late it was
  in the request context; the recorder adds that lag to the latency. A server stall then
  shows as latency for every request that was due during it (no coordinated omission).

Also usable on its own: ``locust -f locustfiles/hello.py --host http://127.0.0.1:8080``.
"""

from __future__ import annotations

import random
import time
from typing import Any, ClassVar

import gevent
from locust import FastHttpUser, task
from locust.exception import StopUser

from harness.load.recorder import LAG_CONTEXT_KEY


class RequestBudget:
    """Requests a process may still send, shared by its users; None means unbounded.

    Greenlets switch only on I/O, so taking from it needs no lock.
    """

    def __init__(self, remaining: int | None) -> None:
        self.remaining = remaining

    def take(self) -> bool:
        """Consume one request; False when the budget is spent."""
        if self.remaining is None:
            return True
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


class HelloUser(FastHttpUser):
    """GET ``path`` of the user's host; requests are named ``arm``."""

    arm: ClassVar[str] = "hello"
    path: ClassVar[str] = "/"
    interval_s: ClassVar[float | None] = None
    think_s: ClassVar[float] = 0.0
    budget: ClassVar[RequestBudget] = RequestBudget(None)

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self._context: dict[str, float] = {}
        self._due = 0.0

    def on_start(self) -> None:
        """Open model: start at a random phase, so users' arrivals interleave evenly."""
        if self.interval_s is not None:
            phase = random.random() * self.interval_s
            self._due = time.perf_counter() + phase
            gevent.sleep(phase)

    def wait_time(self) -> float:
        """Closed model: the think time. Open model: the time left until the next due time."""
        if self.interval_s is None:
            return self.think_s
        return max(0.0, self._due - time.perf_counter())

    def context(self) -> dict[str, float]:
        """The request context: the open model's lag behind schedule (ms)."""
        return self._context

    @task
    def get(self) -> None:
        """One request, if the process' request budget allows; else this user stops."""
        if not self.budget.take():
            raise StopUser()
        if self.interval_s is not None:
            late_s = time.perf_counter() - self._due
            self._context[LAG_CONTEXT_KEY] = late_s * 1000.0 if late_s > 0 else 0.0
            self._due += self.interval_s
        self.client.request("GET", self.path, name=self.arm)
