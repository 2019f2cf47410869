"""`Store`: what every backend of the run journal and perf history promises.

Callers depend on this protocol and get an instance from `harness.store.open_store`;
`SqlStore` (harness/store/sql.py) implements it once for SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from harness.store.records import (
    ActionRecord,
    HistoryPoint,
    JournalLook,
    PerfResult,
    RunKind,
    RunRecord,
)

__all__ = ["Store"]


class Store(Protocol):
    """Persistence of runs, canary journals and perf history.

    Every method raises `BadInput` for an unknown run id or a store that cannot be read
    as ours, and `Unavailable` when the store is busy or its disk fails. Lists of runs
    are newest first; looks, actions and trends are in the order they happened.
    """

    location: str

    def create_run(
        self,
        kind: RunKind,
        namespace: str,
        service: str,
        *,
        revisions: Sequence[str] = (),
        label: str | None = None,
        spec: Mapping[str, Any] | None = None,
        original_traffic: Sequence[Mapping[str, Any]] | None = None,
        started: float | None = None,
        run_id: str | None = None,
    ) -> RunRecord:
        """Create a run in status ``running`` with a new sortable id (UTC time + 4 hex),
        or ``run_id`` (from `new_run_id`, e.g. to name a lease first; BadInput if taken)."""
        ...

    def record_look(
        self,
        run_id: str,
        *,
        step: int,
        percent: int,
        arms: Mapping[str, Any],
        verdict: Mapping[str, Any],
        t: float | None = None,
    ) -> JournalLook:
        """Append a look (next seq) durably; returns once it is on disk."""
        ...

    def begin_action(
        self, run_id: str, kind: str, payload: Mapping[str, Any], *, t: float | None = None
    ) -> ActionRecord:
        """Write an intended action (not done) durably, before the caller performs it."""
        ...

    def complete_action(
        self,
        run_id: str,
        seq: int,
        *,
        result: Mapping[str, Any] | None = None,
        t: float | None = None,
    ) -> ActionRecord:
        """Mark an action done, with an optional result; BadInput if unknown or already done."""
        ...

    def finish_run(
        self,
        run_id: str,
        status: str,
        *,
        summary: Mapping[str, Any] | None = None,
        finished: float | None = None,
    ) -> RunRecord:
        """Record the final status (one of FINAL_STATUSES) once; BadInput if already finished."""
        ...

    def get_run(self, run_id: str) -> RunRecord:
        """The run with that id; BadInput if the id is malformed or unknown."""
        ...

    def last_run(
        self, namespace: str, service: str, kind: RunKind | None = None
    ) -> RunRecord | None:
        """The most recently started run on that Service (of that kind), or None."""
        ...

    def list_runs(
        self,
        namespace: str | None = None,
        service: str | None = None,
        kind: RunKind | None = None,
        label: str | None = None,
        status: str | None = None,
        limit: int = 50,
    ) -> list[RunRecord]:
        """Runs matching every given filter, newest first, at most ``limit``."""
        ...

    def looks(self, run_id: str) -> list[JournalLook]:
        """The run's looks in seq order."""
        ...

    def actions(self, run_id: str) -> list[ActionRecord]:
        """The run's actions in seq order, done or not."""
        ...

    def save_perf_result(self, run_id: str, result: PerfResult) -> None:
        """Keep one arm's result of a perf run; BadInput if that arm is already saved."""
        ...

    def load_perf_results(self, run_id: str) -> dict[str, PerfResult]:
        """The perf run's results by arm (empty if none were saved)."""
        ...

    def perf_trend(
        self,
        namespace: str,
        service: str,
        *,
        label: str | None = None,
        arm: str | None = None,
        limit: int = 100,
    ) -> list[HistoryPoint]:
        """The last ``limit`` completed perf runs' numbers on that Service, oldest first."""
        ...

    def import_run(
        self,
        run: RunRecord,
        looks: Sequence[JournalLook],
        actions: Sequence[ActionRecord],
        perf: Mapping[str, PerfResult],
    ) -> bool:
        """Copy one run as it is (id, times, status, journal, results) in one transaction;
        False, changing nothing, when a run with that id is here already."""
        ...

    def close(self) -> None:
        """Release the store; further calls are errors."""
        ...
