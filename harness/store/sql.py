"""`SqlStore`: the journal, run and perf-history semantics, written once for every SQL
backend; a `Dialect` supplies the connection and what differs between databases.

Semantics (both backends):

* **Durability.** Every ``record_look``/``begin_action`` is its own committed
  transaction before the method returns, so a look or an intended action survives a
  SIGKILL the moment the caller goes on to act on it.
* **Appending.** A look or an action is written inside `Dialect.transaction`, which
  excludes other writers of the run (SQLite: ``BEGIN IMMEDIATE`` locks the file;
  PostgreSQL: the run's row is read ``FOR UPDATE``), so two writers never take the same
  sequence number and a finished run is never appended to.
* **Once.** A run finishes once, an action completes once, an arm's perf result is saved
  once; run ids are unique (a clash draws a new id).

Statements are written with ``?`` placeholders; the PostgreSQL dialect translates them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from harness.errors import BadInput
from harness.statuses import RunStatus
from harness.store.records import (
    FINAL_STATUSES,
    RUN_KINDS,
    RUNNING,
    ActionRecord,
    HistoryPoint,
    JournalLook,
    PerfResult,
    RunKind,
    RunRecord,
    check_action_kind,
    check_run_id,
    dumps,
    new_run_id,
    pack,
    unpack,
)

__all__ = ["Cursor", "Db", "Dialect", "SqlStore"]


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Db(Protocol):
    """A connection in autocommit mode: each statement outside a transaction commits."""

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Cursor: ...


class Dialect(Protocol):
    """What differs between SQL backends, behind a few members. The dialect has checked
    (and if needed created or migrated) the schema before the store uses it."""

    location: str  # for messages; never holds a password
    table_prefix: str  # before each table name: "" or the PostgreSQL schema and a dot
    lock_clause: str  # appended to the SELECT of a run inside `transaction` to lock its row

    def session(self) -> AbstractContextManager[Db]:
        """The connection, for one thread at a time; driver errors come out as
        `BadInput` (not ours, corrupt) or `Unavailable` (busy, unreachable), and a
        transaction left open by an error is rolled back."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """One write transaction inside `session`, committed on exit; it excludes other
        writers of the rows it locks (see ``lock_clause``)."""
        ...

    def close(self) -> None: ...


_RUN_COLUMNS = (
    "id, kind, namespace, service, revisions, label, started, finished, status, spec, "
    "original_traffic, summary"
)
_ACTION_COLUMNS = "run_id, seq, t, kind, payload, done, done_t, result"
_NEW_RUN_COLUMNS = (
    "id, kind, namespace, service, revisions, label, started, status, spec, original_traffic"
)
_LOOK_COLUMNS = "run_id, seq, t, step, percent, arms, verdict"
_PERF_COLUMNS = "run_id, arm, requests, errors, duration_s, stats, latency, server"


class SqlStore:
    """`Store` on a SQL database through a `Dialect`. Safe to share between threads."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._p = dialect.table_prefix
        self.location = dialect.location

    # -- runs
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
        """See `Store.create_run`."""
        if run_id is not None:
            check_run_id(run_id)
        if kind not in RUN_KINDS:
            raise BadInput(f"run kind must be one of {', '.join(RUN_KINDS)}, not {kind!r}")
        started = time.time() if started is None else started
        row = (
            kind,
            namespace,
            service,
            dumps(list(revisions)),
            label,
            started,
            str(RUNNING),
            dumps(dict(spec or {})),
            None if original_traffic is None else dumps([dict(t) for t in original_traffic]),
        )
        with self._dialect.session() as db:
            while True:
                new_id = run_id or new_run_id(started)
                inserted = db.execute(
                    self._insert("runs", _NEW_RUN_COLUMNS, " ON CONFLICT (id) DO NOTHING"),
                    (new_id, *row),
                ).rowcount
                if inserted:
                    return self._run(db, new_id)
                if run_id is not None:
                    raise BadInput(f"run {run_id} already exists in {self.location}")
                # same second, same 16 random bits: draw again

    def finish_run(
        self,
        run_id: str,
        status: str,
        *,
        summary: Mapping[str, Any] | None = None,
        finished: float | None = None,
    ) -> RunRecord:
        """See `Store.finish_run`."""
        if status not in FINAL_STATUSES:
            raise BadInput(f"final status must be one of {', '.join(sorted(FINAL_STATUSES))}")
        summary_text = None if summary is None else dumps(dict(summary))
        with self._dialect.session() as db:
            with self._dialect.transaction():
                self._running(db, run_id, lock=True)
                db.execute(
                    f"UPDATE {self._p}runs SET status = ?, finished = ?, summary = ? WHERE id = ?",
                    (
                        str(status),
                        time.time() if finished is None else finished,
                        summary_text,
                        run_id,
                    ),
                )
            return self._run(db, run_id)

    def get_run(self, run_id: str) -> RunRecord:
        """See `Store.get_run`."""
        with self._dialect.session() as db:
            return self._run(db, run_id)

    def last_run(
        self, namespace: str, service: str, kind: RunKind | None = None
    ) -> RunRecord | None:
        """See `Store.last_run`."""
        runs = self.list_runs(namespace, service, kind, limit=1)
        return runs[0] if runs else None

    def list_runs(
        self,
        namespace: str | None = None,
        service: str | None = None,
        kind: RunKind | None = None,
        label: str | None = None,
        status: str | None = None,
        limit: int = 50,
    ) -> list[RunRecord]:
        """See `Store.list_runs`."""
        where, params = _filters(
            namespace=namespace, service=service, kind=kind, label=label, status=status
        )
        with self._dialect.session() as db:
            rows = db.execute(
                f"SELECT {_RUN_COLUMNS} FROM {self._p}runs{where} "
                "ORDER BY started DESC, id DESC LIMIT ?",
                (*params, max(0, limit)),
            ).fetchall()
        return [_run_record(row) for row in rows]

    def _run(self, db: Db, run_id: str, *, lock: bool = False) -> RunRecord:
        check_run_id(run_id)
        suffix = self._dialect.lock_clause if lock else ""
        row = db.execute(
            f"SELECT {_RUN_COLUMNS} FROM {self._p}runs WHERE id = ?{suffix}", (run_id,)
        ).fetchone()
        if row is None:
            raise BadInput(f"no run {run_id} in {self.location}")
        return _run_record(row)

    def _running(self, db: Db, run_id: str, *, lock: bool = False) -> RunRecord:
        run = self._run(db, run_id, lock=lock)
        if not run.running:
            raise BadInput(f"run {run_id} already finished ({run.status})")
        return run

    # -- the canary journal
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
        """See `Store.record_look`."""
        look_t = time.time() if t is None else t
        arms_blob = pack(dict(arms))
        verdict_text = dumps(dict(verdict))
        with self._dialect.session() as db, self._dialect.transaction():
            seq = self._next_seq(db, "looks", run_id)
            db.execute(
                self._insert("looks", _LOOK_COLUMNS),
                (run_id, seq, look_t, step, percent, arms_blob, verdict_text),
            )
        return JournalLook(run_id, seq, look_t, step, percent, dict(arms), dict(verdict))

    def begin_action(
        self, run_id: str, kind: str, payload: Mapping[str, Any], *, t: float | None = None
    ) -> ActionRecord:
        """See `Store.begin_action`."""
        check_action_kind(kind)
        action_t = time.time() if t is None else t
        payload_text = dumps(dict(payload))
        with self._dialect.session() as db, self._dialect.transaction():
            seq = self._next_seq(db, "actions", run_id)
            db.execute(
                self._insert("actions", "run_id, seq, t, kind, payload"),
                (run_id, seq, action_t, kind, payload_text),
            )
        return ActionRecord(run_id, seq, action_t, kind, dict(payload), False, None, None)

    def _next_seq(self, db: Db, table: str, run_id: str) -> int:
        """The next sequence number of a running run's looks or actions; inside
        `Dialect.transaction`, after locking the run, so no other writer takes it."""
        self._running(db, run_id, lock=True)
        row = db.execute(
            f"SELECT max(seq) FROM {self._p}{table} WHERE run_id = ?", (run_id,)
        ).fetchone()
        return 1 if row[0] is None else int(row[0]) + 1

    def complete_action(
        self,
        run_id: str,
        seq: int,
        *,
        result: Mapping[str, Any] | None = None,
        t: float | None = None,
    ) -> ActionRecord:
        """See `Store.complete_action`."""
        result_text = None if result is None else dumps(dict(result))
        with self._dialect.session() as db:
            self._run(db, run_id)
            updated = db.execute(
                f"UPDATE {self._p}actions SET done = ?, done_t = ?, result = ? "
                "WHERE run_id = ? AND seq = ? AND done = ?",
                (True, time.time() if t is None else t, result_text, run_id, seq, False),
            ).rowcount
            row = db.execute(
                f"SELECT {_ACTION_COLUMNS} FROM {self._p}actions WHERE run_id = ? AND seq = ?",
                (run_id, seq),
            ).fetchone()
        if row is None:
            raise BadInput(f"run {run_id} has no action {seq}")
        if not updated:
            raise BadInput(f"action {seq} of run {run_id} was already completed")
        return _action_record(row)

    def looks(self, run_id: str) -> list[JournalLook]:
        """See `Store.looks`."""
        with self._dialect.session() as db:
            self._run(db, run_id)
            rows = db.execute(
                f"SELECT {_LOOK_COLUMNS} FROM {self._p}looks WHERE run_id = ? ORDER BY seq",
                (run_id,),
            ).fetchall()
        return [
            JournalLook(r[0], r[1], r[2], r[3], r[4], unpack(r[5]), json.loads(r[6])) for r in rows
        ]

    def actions(self, run_id: str) -> list[ActionRecord]:
        """See `Store.actions`."""
        with self._dialect.session() as db:
            self._run(db, run_id)
            rows = db.execute(
                f"SELECT {_ACTION_COLUMNS} FROM {self._p}actions WHERE run_id = ? ORDER BY seq",
                (run_id,),
            ).fetchall()
        return [_action_record(row) for row in rows]

    # -- perf history
    def save_perf_result(self, run_id: str, result: PerfResult) -> None:
        """See `Store.save_perf_result`."""
        row = _perf_row(run_id, result)
        with self._dialect.session() as db:
            run = self._run(db, run_id)
            if run.kind != "perf":
                raise BadInput(f"run {run_id} is a {run.kind} run, not a perf run")
            inserted = db.execute(
                self._insert(
                    "perf_results", _PERF_COLUMNS, " ON CONFLICT (run_id, arm) DO NOTHING"
                ),
                row,
            ).rowcount
        if not inserted:
            raise BadInput(f"run {run_id} already has a result for arm {result.arm!r}")

    def load_perf_results(self, run_id: str) -> dict[str, PerfResult]:
        """See `Store.load_perf_results`."""
        with self._dialect.session() as db:
            self._run(db, run_id)
            rows = db.execute(
                "SELECT arm, requests, errors, duration_s, stats, latency, server "
                f"FROM {self._p}perf_results WHERE run_id = ? ORDER BY arm",
                (run_id,),
            ).fetchall()
        return {
            row[0]: PerfResult(
                arm=row[0],
                requests=row[1],
                errors=row[2],
                duration_s=row[3],
                stats=json.loads(row[4]),
                latency=unpack(row[5]),
                server=None if row[6] is None else unpack(row[6]),
            )
            for row in rows
        }

    def perf_trend(
        self,
        namespace: str,
        service: str,
        *,
        label: str | None = None,
        arm: str | None = None,
        limit: int = 100,
    ) -> list[HistoryPoint]:
        """See `Store.perf_trend`."""
        where, params = _filters(
            prefix="r.",
            namespace=namespace,
            service=service,
            kind="perf",
            status=RunStatus.COMPLETED,
            label=label,
        )
        if arm is not None:
            where += " AND p.arm = ?"
            params.append(arm)
        with self._dialect.session() as db:
            rows = db.execute(
                "SELECT r.id, r.started, r.label, p.arm, p.requests, p.errors, p.duration_s, "
                f"p.stats FROM {self._p}runs r JOIN {self._p}perf_results p ON p.run_id = r.id"
                f"{where} ORDER BY r.started DESC, r.id DESC, p.arm LIMIT ?",
                (*params, max(0, limit)),
            ).fetchall()
        return [
            HistoryPoint(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]))
            for r in reversed(rows)
        ]

    # -- copying (harness store migrate)
    def import_run(
        self,
        run: RunRecord,
        looks: Sequence[JournalLook],
        actions: Sequence[ActionRecord],
        perf: Mapping[str, PerfResult],
    ) -> bool:
        """See `Store.import_run`."""
        check_run_id(run.id)
        if run.kind not in RUN_KINDS:
            raise BadInput(f"run {run.id}: kind {run.kind!r} is not one of {RUN_KINDS}")
        with self._dialect.session() as db, self._dialect.transaction():
            inserted = db.execute(
                self._insert("runs", _RUN_COLUMNS, " ON CONFLICT (id) DO NOTHING"),
                (
                    run.id,
                    run.kind,
                    run.namespace,
                    run.service,
                    dumps(list(run.revisions)),
                    run.label,
                    run.started,
                    run.finished,
                    str(run.status),
                    dumps(run.spec),
                    None if run.original_traffic is None else dumps(run.original_traffic),
                    None if run.summary is None else dumps(run.summary),
                ),
            ).rowcount
            if not inserted:
                return False
            for look in looks:
                db.execute(
                    self._insert("looks", _LOOK_COLUMNS),
                    (
                        run.id,
                        look.seq,
                        look.t,
                        look.step,
                        look.percent,
                        pack(look.arms),
                        dumps(look.verdict),
                    ),
                )
            for action in actions:
                db.execute(
                    self._insert("actions", _ACTION_COLUMNS),
                    (
                        run.id,
                        action.seq,
                        action.t,
                        action.kind,
                        dumps(action.payload),
                        bool(action.done),
                        action.done_t,
                        None if action.result is None else dumps(action.result),
                    ),
                )
            for result in perf.values():
                db.execute(
                    self._insert("perf_results", _PERF_COLUMNS),
                    _perf_row(run.id, result),
                )
        return True

    def _insert(self, table: str, columns: str, tail: str = "") -> str:
        marks = ", ".join("?" * len(columns.split(",")))
        return f"INSERT INTO {self._p}{table} ({columns}) VALUES ({marks}){tail}"

    def close(self) -> None:
        """See `Store.close`."""
        self._dialect.close()

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# ----------------------------------------------------------------- rows
def _run_record(row: Sequence[Any]) -> RunRecord:
    return RunRecord(
        id=row[0],
        kind=row[1],
        namespace=row[2],
        service=row[3],
        revisions=tuple(json.loads(row[4])),
        label=row[5],
        started=row[6],
        finished=row[7],
        status=row[8],
        spec=json.loads(row[9]),
        original_traffic=None if row[10] is None else json.loads(row[10]),
        summary=None if row[11] is None else json.loads(row[11]),
    )


def _action_record(row: Sequence[Any]) -> ActionRecord:
    return ActionRecord(
        run_id=row[0],
        seq=row[1],
        t=row[2],
        kind=row[3],
        payload=json.loads(row[4]),
        done=bool(row[5]),
        done_t=row[6],
        result=None if row[7] is None else json.loads(row[7]),
    )


def _perf_row(run_id: str, result: PerfResult) -> tuple[Any, ...]:
    return (
        run_id,
        result.arm,
        int(result.requests),
        int(result.errors),
        float(result.duration_s),
        dumps({k: float(v) for k, v in result.stats.items()}),
        pack(result.latency),
        None if result.server is None else pack(result.server),
    )


def _filters(prefix: str = "", **values: str | None) -> tuple[str, list[Any]]:
    given = {column: str(value) for column, value in values.items() if value is not None}
    clauses = [f"{prefix}{column} = ?" for column in given]
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), list(given.values())
