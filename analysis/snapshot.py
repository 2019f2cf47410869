"""What the judge reads about one arm: cumulative counts since the run began."""

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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArmSnapshot:
        """Inverse of `to_dict`."""
        latency = data.get("latency")
        return cls(
            requests=int(data["requests"]),
            errors=int(data["errors"]),
            latency=None if latency is None else Histogram.from_dict(latency),
        )
