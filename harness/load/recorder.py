"""Records every request of a Locust process into per-arm statistics.

`Recorder.on_request` listens to Locust's ``request`` event. A request belongs to the arm
named by the event's ``name`` (the built-in user names requests after their arm) or by
``context["harness_arm"]`` (a user's own locustfile, whose request names are its own).
The listener is on the hot path of every request, so it only counts and appends;
latencies go into the histogram in vectorised batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from analysis import Histogram
from harness.knative.names import is_dns1035_label
from harness.load.stats import ArmStats

ARM_CONTEXT_KEY = "harness_arm"
# Extra latency of an open-model request: how late it was sent after it was due (ms).
LAG_CONTEXT_KEY = "harness_lag_ms"
REVISION_HEADER = "K-Revision"
# A misbehaving server could send a new revision name per response; memory stays bounded.
MAX_REVISIONS_PER_ARM = 32
OTHER_REVISION = "(other)"
INVALID_REVISION = "(invalid)"
_BATCH = 4096


class _ArmRecorder:
    """Mutable counters of one arm between two `take`s."""

    __slots__ = (
        "connection_errors",
        "errors_4xx",
        "errors_5xx",
        "latency",
        "pending",
        "requests",
        "revisions",
        "timeouts",
    )

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.errors_5xx = 0
        self.errors_4xx = 0
        self.connection_errors = 0
        self.timeouts = 0
        self.latency = Histogram.empty()
        self.pending: list[float] = []
        self.revisions: dict[str, int] = {}

    def take(self) -> ArmStats:
        if self.pending:
            self.latency.record_many(self.pending)
        stats = ArmStats(
            requests=self.requests,
            errors_5xx=self.errors_5xx,
            errors_4xx=self.errors_4xx,
            connection_errors=self.connection_errors,
            timeouts=self.timeouts,
            latency=self.latency,
            revisions=self.revisions,
        )
        self.reset()
        return stats


class Recorder:
    """Per-arm recording for one process; `take` hands over what was recorded since last time."""

    def __init__(self, arm_names: Iterable[str]) -> None:
        self._arms = {name: _ArmRecorder() for name in arm_names}

    @property
    def arm_names(self) -> list[str]:
        """Names of the arms recorded here, in plan order."""
        return list(self._arms)

    def on_request(
        self,
        name: str,
        response_time: float,
        response: Any = None,
        context: Mapping[str, Any] | None = None,
        exception: BaseException | None = None,
        **_: Any,
    ) -> None:
        """Locust ``request`` event listener: count the request against its arm.

        Requests that belong to no arm (a locustfile's extra calls) are left to Locust's
        own statistics.
        """
        arm = self._arms.get(name)
        if arm is None:
            if not context:
                return
            arm = self._arms.get(context.get(ARM_CONTEXT_KEY, ""))
            if arm is None:
                return
        arm.requests += 1
        status = getattr(response, "status_code", 0) or 0
        if status:
            latency = response_time
            if context:
                latency += context.get(LAG_CONTEXT_KEY, 0.0)
            arm.pending.append(latency)
            if len(arm.pending) >= _BATCH:
                arm.latency.record_many(arm.pending)
                arm.pending.clear()
            if status >= 500:
                arm.errors_5xx += 1
            elif status >= 400:
                arm.errors_4xx += 1
            headers = getattr(response, "headers", None)
            # A membership test first: a missed get() raises and catches inside the
            # client's case-insensitive headers, which costs more than the rest here.
            if headers and REVISION_HEADER in headers:
                revision = headers[REVISION_HEADER]
                if isinstance(revision, str) and revision:
                    _count_revision(arm.revisions, revision)
        elif exception is not None and _is_timeout(exception):
            arm.timeouts += 1
        else:
            arm.connection_errors += 1

    def pending_requests(self) -> int:
        """Requests recorded since the previous `take`, over all arms."""
        return sum(arm.requests for arm in self._arms.values())

    def take(self) -> dict[str, ArmStats]:
        """What each arm recorded since the previous `take` (a delta), then start afresh."""
        return {name: arm.take() for name, arm in self._arms.items()}


def _count_revision(revisions: dict[str, int], revision: str) -> None:
    if revision not in revisions:
        if not is_dns1035_label(revision):
            revision = INVALID_REVISION
        elif len(revisions) >= MAX_REVISIONS_PER_ARM:
            revision = OTHER_REVISION
    revisions[revision] = revisions.get(revision, 0) + 1


def _is_timeout(exception: BaseException) -> bool:
    """True when the request failed because time ran out, however the client wrapped it."""
    seen: set[int] = set()
    current: BaseException | None = exception
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TimeoutError) or "Timeout" in type(current).__name__:
            return True
        original = getattr(current, "original", None)
        if isinstance(original, BaseException):
            current = original
        elif "timed out" in str(original or ""):
            return True
        else:
            current = current.__cause__ or current.__context__
    return False
