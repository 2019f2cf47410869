"""What a load run does, as one serialisable value: arms, pacing, bounds, user code.

The same `LoadPlan` travels from the `LoadDriver` to the Locust process and from a
Locust master to each of its workers, so every process builds identical user classes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import BadInput
from harness.knative.names import require_dns_label
from harness.load.limits import MAX_TOTAL_RATE, MAX_TOTAL_USERS, max_local_workers
from harness.load.targets import Arm, is_host, parse_url

SHAPES = ("steady", "ramp", "spike", "soak")
# Open model: each user must answer within this many seconds on average to keep its
# schedule, so a 1 s stall is absorbed by queueing at the client, not by lost arrivals.
OPEN_USER_BUDGET_S = 0.25
MAX_USERS_PER_ARM = 5000


@dataclass(frozen=True)
class Pacing:
    """How requests are paced, per arm (every arm gets the same load).

    Closed model (``rate`` None): ``users`` users each send a request, wait for the
    answer, think ``wait_s`` seconds, and so on. Open model: requests are due at a fixed
    ``rate`` per second per arm, spread over ``users`` users, and latency counts from when
    a request was due, so a server stall shows in the latency instead of slowing the client.
    """

    users: int
    rate: float | None = None
    wait_s: float = 0.0

    @classmethod
    def closed(cls, users: int, wait_s: float = 0.0) -> Pacing:
        """Closed model: ``users`` per arm, each thinking ``wait_s`` between requests."""
        pacing = cls(users=users, wait_s=wait_s)
        pacing.validate()
        return pacing

    @classmethod
    def open(cls, rate: float, users: int | None = None) -> Pacing:
        """Open model: ``rate`` requests/s per arm over ``users`` users (default: enough
        that each user has `OPEN_USER_BUDGET_S` per request)."""
        if not (
            isinstance(rate, int | float)
            and not isinstance(rate, bool)
            and math.isfinite(rate)
            and 0 < rate <= MAX_TOTAL_RATE
        ):
            raise BadInput(
                f"--rate {rate!r} must be a number of requests per second above 0 and at "
                f"most {MAX_TOTAL_RATE:,}"
            )
        if users is None:
            users = min(MAX_USERS_PER_ARM, max(1, math.ceil(rate * OPEN_USER_BUDGET_S)))
        pacing = cls(users=users, rate=float(rate))
        pacing.validate()
        return pacing

    @property
    def is_open(self) -> bool:
        """True for the open model (a target rate)."""
        return self.rate is not None

    def validate(self) -> None:
        """Raise ``BadInput`` for a user count or wait time out of range."""
        if not isinstance(self.users, int) or not 1 <= self.users <= MAX_USERS_PER_ARM:
            raise BadInput(f"--users {self.users!r} must be between 1 and {MAX_USERS_PER_ARM}")
        if not (math.isfinite(self.wait_s) and self.wait_s >= 0):
            raise BadInput(f"--wait {self.wait_s!r} must be a non-negative number of seconds")
        if self.rate is not None and self.wait_s:
            raise BadInput("--wait applies to the closed model (--users) only, not to --rate")


@dataclass(frozen=True)
class UserCode:
    """A user's own locustfile, carried as source so remote workers need no copy of it."""

    filename: str
    source: str


def read_user_code(path: Path | None) -> UserCode | None:
    """The ``--locustfile`` at ``path`` as `UserCode` (None without one); BadInput, one line,
    when it cannot be read within the bounds of `harness.inputs`."""
    if path is None:
        return None
    from harness.inputs import InputError, read_text

    try:
        source = read_text(path)
    except InputError as exc:
        raise BadInput(f"--locustfile {path}: {exc}") from None
    return UserCode(filename=path.name, source=source)


@dataclass(frozen=True)
class LoadPlan:
    """Everything a Locust process needs to build users: bounded by time and requests."""

    arms: tuple[Arm, ...]
    pacing: Pacing
    duration_s: float
    max_requests: int | None = None
    timeout_s: float = 10.0
    shape: str | None = None
    user_code: UserCode | None = None

    def validate(self) -> None:
        """Raise ``BadInput`` for bounds out of range or options that do not combine."""
        if not self.arms:
            raise BadInput("no target: give SERVICE (with --tag) or --url")
        for arm in self.arms:
            # Arms may be built by hand: names reach reports and URLs reach the network.
            require_dns_label(arm.name, "arm")
            parse_url(arm.url, f"arm {arm.name!r} URL")
            if arm.host_header is not None and not is_host(arm.host_header):
                raise BadInput(f"arm {arm.name!r}: invalid Host header {arm.host_header!r}")
        self.pacing.validate()
        arms = len(self.arms)
        if self.pacing.rate is not None and self.pacing.rate * arms > MAX_TOTAL_RATE:
            raise BadInput(
                f"--rate {self.pacing.rate:g} per arm over {arms} arms exceeds "
                f"{MAX_TOTAL_RATE:,} requests per second in all"
            )
        if self.pacing.users * arms > MAX_TOTAL_USERS:
            raise BadInput(
                f"--users {self.pacing.users} per arm over {arms} arms exceeds "
                f"{MAX_TOTAL_USERS:,} users in all"
            )
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise BadInput(f"--duration {self.duration_s!r} must be a positive number of seconds")
        if self.max_requests is not None and self.max_requests < 1:
            raise BadInput(f"--requests {self.max_requests!r} must be at least 1")
        if not (math.isfinite(self.timeout_s) and self.timeout_s > 0):
            raise BadInput(f"--timeout {self.timeout_s!r} must be a positive number of seconds")
        if self.shape is not None and self.shape not in SHAPES:
            raise BadInput(f"--shape {self.shape!r} is not one of {', '.join(SHAPES)}")
        if self.user_code is not None and self.pacing.is_open:
            raise BadInput(
                "--rate paces the built-in user only; a --locustfile sets its own wait_time"
            )

    def to_wire(self) -> dict[str, Any]:
        """A JSON-safe dict; `from_wire` inverts it."""
        return {
            "arms": [
                {"name": a.name, "url": a.url, "host_header": a.host_header} for a in self.arms
            ],
            "pacing": {
                "users": self.pacing.users,
                "rate": self.pacing.rate,
                "wait_s": self.pacing.wait_s,
            },
            "duration_s": self.duration_s,
            "max_requests": self.max_requests,
            "timeout_s": self.timeout_s,
            "shape": self.shape,
            "user_code": None
            if self.user_code is None
            else {"filename": self.user_code.filename, "source": self.user_code.source},
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> LoadPlan:
        """Inverse of `to_wire`. Raises ValueError on a malformed dict."""
        try:
            code = data["user_code"]
            return cls(
                arms=tuple(
                    Arm(name=str(a["name"]), url=str(a["url"]), host_header=a["host_header"])
                    for a in data["arms"]
                ),
                pacing=Pacing(**data["pacing"]),
                duration_s=float(data["duration_s"]),
                max_requests=data["max_requests"],
                timeout_s=float(data["timeout_s"]),
                shape=data["shape"],
                user_code=None if code is None else UserCode(**code),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a load plan: {exc}") from exc


DEFAULT_MASTER_PORT = 5557  # Locust's own default


def budget_shares(total: int | None, workers: int) -> list[int | None]:
    """Split a request budget over ``workers`` as evenly as integers allow (None: unbounded)."""
    if total is None:
        return [None] * workers
    return [total // workers + (1 if i < total % workers else 0) for i in range(workers)]


@dataclass(frozen=True)
class Distribution:
    """Where users run: in the Locust process itself (``local_workers == 0`` and no remote
    workers), or on workers under a Locust master: ``local_workers`` processes started
    here, plus ``remote_workers`` that connect from elsewhere to ``bind_host:port``."""

    local_workers: int = 0
    remote_workers: int = 0
    bind_host: str = "127.0.0.1"
    port: int = 0
    wait_s: float = 60.0

    @property
    def expected_workers(self) -> int:
        """Workers the master waits for before it starts users (0: no master)."""
        return self.local_workers + self.remote_workers

    def validate(self) -> None:
        """Raise ``BadInput`` for negative counts, a bad port or a bad wait."""
        if self.local_workers < 0 or self.remote_workers < 0:
            raise BadInput("--workers and --expect-workers must not be negative")
        if self.local_workers > (most := max_local_workers()):
            raise BadInput(
                f"--workers {self.local_workers} is more than this machine runs well: at "
                f"most {most} (4 per CPU core); use --master with workers on other machines"
            )
        if not 0 <= self.port < 65536:
            raise BadInput(f"--master-port {self.port!r} must be between 0 and 65535")
        if not (math.isfinite(self.wait_s) and self.wait_s > 0):
            raise BadInput(f"--worker-wait {self.wait_s!r} must be a positive number of seconds")

    def to_wire(self) -> dict[str, Any]:
        """A JSON-safe dict; ``Distribution(**d)`` inverts it."""
        return {
            "local_workers": self.local_workers,
            "remote_workers": self.remote_workers,
            "bind_host": self.bind_host,
            "port": self.port,
            "wait_s": self.wait_s,
        }
