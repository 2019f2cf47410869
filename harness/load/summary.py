"""The summary of a load run: totals and per-arm figures, as `harness load` prints them.

``--format json`` prints `RunSummary.to_json()`::

    {"requests": n, "failures": n, "rps": x,
     "latency_ms": {"p50": x, "p90": x, "p99": x, "max": x},
     "errors": {"5xx": n, "4xx": n, "connection": n, "timeout": n},
     "arms": {NAME: {the same fields, and "revisions": {REVISION: n}}},
     "duration_s": x, "interrupted": bool, "cpu_warning": bool}

Latencies are milliseconds; null when no request got a response.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.load.stats import ArmStats

QUANTILES = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))


@dataclass(frozen=True)
class RunSummary:
    """Final (or current) per-arm statistics of a run over ``duration_s`` seconds."""

    arms: Mapping[str, ArmStats]
    duration_s: float
    interrupted: bool = False
    cpu_warning: bool = False

    @property
    def total(self) -> ArmStats:
        """All arms merged."""
        merged = ArmStats()
        for stats in self.arms.values():
            merged = merged + stats
        return merged

    def to_json(self) -> dict[str, Any]:
        """The JSON document of ``--format json`` (see the module docstring)."""
        out = figures(self.total, self.duration_s)
        out["arms"] = {
            name: {**figures(stats, self.duration_s), "revisions": dict(stats.revisions)}
            for name, stats in self.arms.items()
        }
        out["duration_s"] = round(self.duration_s, 3)
        out["interrupted"] = self.interrupted
        out["cpu_warning"] = self.cpu_warning
        return out


def figures(stats: ArmStats, duration_s: float) -> dict[str, Any]:
    """Requests, failures, requests/s, latency quantiles and errors by class of one arm."""
    latency: dict[str, float | None] = {
        name: _ms(stats.latency.quantile(q)) for name, q in QUANTILES
    }
    latency["max"] = _ms(stats.latency.max)
    return {
        "requests": stats.requests,
        "failures": stats.failures,
        "rps": round(stats.requests / duration_s, 2) if duration_s > 0 else 0.0,
        "latency_ms": latency,
        "errors": {
            "5xx": stats.errors_5xx,
            "4xx": stats.errors_4xx,
            "connection": stats.connection_errors,
            "timeout": stats.timeouts,
        },
    }


def _ms(value: float | None) -> float | None:
    if value is None or math.isnan(value):
        return None
    return round(value, 3)
