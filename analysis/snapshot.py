"""What the judge reads about one arm: cumulative counts since the run began.

Snapshots add (two disjoint periods together) and subtract (a later cumulative snapshot
minus an earlier one). Both are checked: a count never goes negative, and histograms
combine only under `Histogram`'s rules (the same bounds, or for ``+`` one layout's bounds
a subset of the other's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analysis.histogram import Histogram


@dataclass(frozen=True)
class ArmSnapshot:
    """Cumulative requests, errors and latency histogram of one arm since the run began.

    ``latency`` may be None when no latency data is available (the latency metrics then
    stay inconclusive and the judge never promotes). Raises ValueError on negative
    counts or more errors than requests.
    """

    requests: int
    errors: int
    latency: Histogram | None = None

    def __post_init__(self) -> None:
        if self.requests < 0 or self.errors < 0:
            raise ValueError("request and error counts must be non-negative")
        if self.errors > self.requests:
            raise ValueError(f"{self.errors} errors but only {self.requests} requests")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "requests": self.requests,
            "errors": self.errors,
            "latency": None if self.latency is None else self.latency.to_dict(),
        }

    def __add__(self, other: object) -> ArmSnapshot:
        """Counts of two disjoint periods together, histograms merged.

        ValueError if the histograms cannot merge, or if one side has a histogram and the
        other, which counted requests, has none.
        """
        if not isinstance(other, ArmSnapshot):
            return NotImplemented
        return ArmSnapshot(
            requests=self.requests + other.requests,
            errors=self.errors + other.errors,
            latency=_combined_latency(self, other, subtract=False),
        )

    def __sub__(self, other: object) -> ArmSnapshot:
        """What ``self`` counted since ``other`` (both cumulative, ``other`` earlier).

        ValueError if a count or a bucket would go negative (a counter reset, or the
        snapshots out of order), if more errors than requests happened in between, or if
        the histograms differ in layout or only one side has one.
        """
        if not isinstance(other, ArmSnapshot):
            return NotImplemented
        requests = self.requests - other.requests
        errors = self.errors - other.errors
        if requests < 0 or errors < 0:
            raise ValueError(
                f"snapshot delta is negative ({requests} requests, {errors} errors): "
                "counter reset or snapshots out of order"
            )
        if errors > requests:
            raise ValueError(
                f"snapshot delta has {errors} errors but only {requests} requests: "
                "the snapshots are not of the same arm"
            )
        return ArmSnapshot(
            requests=requests,
            errors=errors,
            latency=_combined_latency(self, other, subtract=True),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArmSnapshot:
        """Inverse of `to_dict`."""
        latency = data.get("latency")
        return cls(
            requests=int(data["requests"]),
            errors=int(data["errors"]),
            latency=None if latency is None else Histogram.from_dict(latency),
        )


def _combined_latency(a: ArmSnapshot, b: ArmSnapshot, *, subtract: bool) -> Histogram | None:
    """``a.latency`` plus (or minus) ``b.latency``. A side without a histogram counts as
    empty only if it counted no request; otherwise the sum would claim data it lacks."""
    if a.latency is not None and b.latency is not None:
        return a.latency - b.latency if subtract else a.latency + b.latency
    if a.latency is None and b.latency is None:
        return None
    missing = a if a.latency is None else b
    if missing.requests:
        raise ValueError(
            f"cannot {'subtract' if subtract else 'add'} snapshots: one has a latency "
            f"histogram, the other has none for its {missing.requests} requests"
        )
    if b.latency is None:
        return None if a.latency is None else a.latency.copy()
    # ``a`` counted nothing: its sum with ``b`` is ``b``; its difference has no data.
    return None if subtract else b.latency.copy()
