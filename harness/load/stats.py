"""Per-arm statistics as plain values: counts by error class, a latency histogram, revisions.

`ArmStats` is what every part of the load path exchanges: a worker's report to its master
(a delta), the master's running total, a snapshot handed to the canary (cumulative). Its
wire form is JSON-safe and merges exactly: counts add, histograms add bucket by bucket.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from analysis import ArmSnapshot, Histogram

_COUNTS = ("requests", "errors_5xx", "errors_4xx", "connection_errors", "timeouts")


@dataclass(frozen=True)
class ArmStats:
    """One arm's requests, errors by class, latency (ms) and ``K-Revision`` attribution.

    Latency holds every request that got an HTTP response, whatever its status;
    connection errors and timeouts have no latency and are only counted.
    """

    requests: int = 0
    errors_5xx: int = 0
    errors_4xx: int = 0
    connection_errors: int = 0
    timeouts: int = 0
    latency: Histogram = field(default_factory=Histogram.empty)
    revisions: Mapping[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        """Errors the canary judges a revision by: 5xx, connection errors and timeouts.

        A 4xx is the client's mistake, not the revision's, so it is not counted here.
        """
        return self.errors_5xx + self.connection_errors + self.timeouts

    @property
    def failures(self) -> int:
        """Every failed request, 4xx included (what Locust calls a failure)."""
        return self.errors + self.errors_4xx

    def to_snapshot(self) -> ArmSnapshot:
        """What the judge reads: requests, `errors`, latency."""
        return ArmSnapshot(requests=self.requests, errors=self.errors, latency=self.latency)

    def __add__(self, other: object) -> ArmStats:
        """Exact merge of two arms' counts, histograms and revision counts."""
        if not isinstance(other, ArmStats):
            return NotImplemented
        revisions = dict(self.revisions)
        for name, count in other.revisions.items():
            revisions[name] = revisions.get(name, 0) + count
        return ArmStats(
            requests=self.requests + other.requests,
            errors_5xx=self.errors_5xx + other.errors_5xx,
            errors_4xx=self.errors_4xx + other.errors_4xx,
            connection_errors=self.connection_errors + other.connection_errors,
            timeouts=self.timeouts + other.timeouts,
            latency=self.latency + other.latency,
            revisions=revisions,
        )

    def to_wire(self) -> dict[str, Any]:
        """A JSON-safe dict; `from_wire` inverts it exactly."""
        out: dict[str, Any] = {name: getattr(self, name) for name in _COUNTS}
        out["latency"] = self.latency.to_dict()
        out["revisions"] = dict(self.revisions)
        return out

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> ArmStats:
        """Inverse of `to_wire`. Raises ValueError on a malformed dict."""
        try:
            counts = {name: int(data[name]) for name in _COUNTS}
            revisions = {str(k): int(v) for k, v in dict(data["revisions"]).items()}
            latency = Histogram.from_dict(data["latency"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not an arm stats dict: {exc}") from exc
        if any(value < 0 for value in (*counts.values(), *revisions.values())):
            raise ValueError("arm stats counts must not be negative")
        return cls(latency=latency, revisions=revisions, **counts)


def merge_arms(total: Mapping[str, ArmStats], delta: Mapping[str, ArmStats]) -> dict[str, ArmStats]:
    """``total`` with every arm of ``delta`` added (arms missing on one side count as empty)."""
    merged = dict(total)
    for name, stats in delta.items():
        merged[name] = merged[name] + stats if name in merged else stats
    return merged


def arms_to_wire(arms: Mapping[str, ArmStats]) -> dict[str, dict[str, Any]]:
    """Every arm's wire form, keyed by arm name."""
    return {name: stats.to_wire() for name, stats in arms.items()}


def arms_from_wire(data: Mapping[str, Any]) -> dict[str, ArmStats]:
    """Inverse of `arms_to_wire`. Raises ValueError on a malformed dict."""
    if not isinstance(data, Mapping):
        raise ValueError("arm stats must be an object keyed by arm name")
    return {str(name): ArmStats.from_wire(value) for name, value in data.items()}
