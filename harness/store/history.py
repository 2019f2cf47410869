"""History queries over the store: the runs a trend or a gate compares with.

Used by `harness perf` (the trend in its report) and `harness gate` (the trend beside the
comparison); it lives in the store so that neither feature imports the other.
"""

from __future__ import annotations

from typing import Any

from harness.statuses import RunStatus
from harness.store.contract import Store

__all__ = ["history_trend"]


def history_trend(
    store: Store, namespace: str, service: str, arm: str, profile: str, limit: int = 100
) -> list[Any]:
    """The last ``limit`` completed runs of that Service, arm and profile (oldest first).

    A trend only compares like with like: a cold-start run is not a point on a steady
    run's latency curve.
    """
    points = store.perf_trend(namespace, service, arm=arm, limit=limit * 4)
    runs = store.list_runs(namespace, service, "perf", status=RunStatus.COMPLETED, limit=limit * 4)
    same = {run.id for run in runs if run.spec.get("profile", "steady") == profile}
    return [point for point in points if point.run_id in same][-limit:]
