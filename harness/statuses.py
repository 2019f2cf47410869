"""How runs end, in the words the store keeps and JSON, reports and the Pushgateway show.

`RunStatus` is a canary's or perf run's status in the journal; `GateVerdict` a gate's
verdict (a gate is not stored, but its verdict is reported and pushed beside runs').
Both are `StrEnum`, so a member compares equal to, and serialises as, its value: the JSON
documents of docs/contracts.md keep their bytes.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["GateVerdict", "RunStatus"]


class RunStatus(StrEnum):
    """A run's status in the journal, for canary and perf runs alike."""

    RUNNING = "running"
    # canary
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    INCONCLUSIVE = "inconclusive"
    ABORTED = "aborted"
    HELD = "held"
    # perf (and events)
    COMPLETED = "completed"
    FAILED = "failed"


class GateVerdict(StrEnum):
    """A whole gate's verdict (each metric has an `analysis.fixed.GateStatus`)."""

    PASSED = "passed"
    REGRESSION = "regression"
    INCONCLUSIVE = "inconclusive"
