"""`Store` on PostgreSQL (``--store postgresql://...`` or ``HARNESS_STORE``), with psycopg 3.

One database can serve a team: CI jobs, nightly CronJobs and canaries write to it at
once, and `harness gate` sees every run.

* **Ownership.** Everything lives in the schema ``knative_harness``, whose ``meta`` table
  names the application. A database that has that schema without our ``meta`` row, or
  has other tables and no such schema, is not ours: the store stops with a clear error
  and changes nothing. An empty database is initialised.
* **Versioned migrations.** ``MIGRATIONS[n]`` takes the schema from version n to n + 1;
  opening applies the missing ones in one transaction under an advisory lock, so two
  processes opening at once migrate once. A schema newer than this harness is refused.
* **Concurrent writers.** Each write is one transaction. Appending a look or an action
  locks the run's row (``SELECT ... FOR UPDATE``), so sequence numbers never collide and
  a finished run is never appended to; run ids are unique (a clash draws a new id).

Rows hold the same values as the SQLite store (JSON text, zlib-compressed JSON for
histograms and arm snapshots), so `harness store migrate` copies them unchanged.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from harness.errors import BadInput, Unavailable
from harness.statuses import RunStatus
from harness.store import (
    FINAL_STATUSES,
    RUN_KINDS,
    RUNNING,
    ActionRecord,
    HistoryPoint,
    JournalLook,
    PerfResult,
    RunKind,
    RunRecord,
    _action_record,
    _dumps,
    _pack,
    _run_record,
    _unpack,
    is_run_id,
    new_run_id,
)

SCHEMA = "knative_harness"
APPLICATION = "knative-harness"
_ACTION_KIND = re.compile(r"[a-z][a-z_]{0,31}")
_URL = re.compile(r"^(postgres|postgresql):/+", re.IGNORECASE)
_CONNECT_TIMEOUT_S = 10
# pg_advisory_xact_lock key for migrations: "KNHR" as in the SQLite store's application_id.
_MIGRATION_LOCK = 0x4B4E4852

# MIGRATIONS[n]: schema version n -> n + 1. Never edit a released step; append a new one.
MIGRATIONS: tuple[str, ...] = (
    f"""
CREATE SCHEMA {SCHEMA};
CREATE TABLE {SCHEMA}.meta (
    application TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    updated DOUBLE PRECISION NOT NULL
);
CREATE TABLE {SCHEMA}.runs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('canary', 'perf')),
    namespace TEXT NOT NULL,
    service TEXT NOT NULL,
    revisions TEXT NOT NULL,
    label TEXT,
    started DOUBLE PRECISION NOT NULL,
    finished DOUBLE PRECISION,
    status TEXT NOT NULL,
    spec TEXT NOT NULL,
    original_traffic TEXT,
    summary TEXT
);
CREATE INDEX runs_by_service ON {SCHEMA}.runs (namespace, service, kind, started);
CREATE TABLE {SCHEMA}.looks (
    run_id TEXT NOT NULL REFERENCES {SCHEMA}.runs (id),
    seq INTEGER NOT NULL,
    t DOUBLE PRECISION NOT NULL,
    step INTEGER NOT NULL,
    percent INTEGER NOT NULL,
    arms BYTEA NOT NULL,
    verdict TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE {SCHEMA}.actions (
    run_id TEXT NOT NULL REFERENCES {SCHEMA}.runs (id),
    seq INTEGER NOT NULL,
    t DOUBLE PRECISION NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    done BOOLEAN NOT NULL DEFAULT FALSE,
    done_t DOUBLE PRECISION,
    result TEXT,
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE {SCHEMA}.perf_results (
    run_id TEXT NOT NULL REFERENCES {SCHEMA}.runs (id),
    arm TEXT NOT NULL,
    requests BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    duration_s DOUBLE PRECISION NOT NULL,
    stats TEXT NOT NULL,
    latency BYTEA NOT NULL,
    server BYTEA,
    PRIMARY KEY (run_id, arm)
);
""",
)
SCHEMA_VERSION = len(MIGRATIONS)

_RUN_COLUMNS = (
    "id, kind, namespace, service, revisions, label, started, finished, status, spec, "
    "original_traffic, summary"
)
_ACTION_COLUMNS = "run_id, seq, t, kind, payload, done, done_t, result"


def is_postgres_url(location: object) -> bool:
    """True for ``postgresql://...`` or ``postgres://...``, also as ``pathlib`` normalises
    them (``postgresql:/user@host/db``, one slash)."""
    return location is not None and bool(_URL.match(str(location)))


def normalise_url(location: object) -> str:
    """``postgresql://...`` with the slashes ``pathlib`` may have collapsed put back."""
    text = str(location)
    match = _URL.match(text)
    if match is None:
        raise BadInput(f"store {text}: not a postgresql:// URL")
    return "postgresql://" + text[match.end() :]


def display_url(url: str) -> str:
    """The URL without its password, for messages and ``location``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:***@{netloc}", parts.path, parts.query, ""))


class PostgresStore:
    """`Store` on a PostgreSQL database. Safe to share between threads (one connection,
    one lock); safe for many processes at once (see the module docstring)."""

    def __init__(self, location: object) -> None:
        url = normalise_url(location)
        self.location = display_url(url)
        try:
            import psycopg
        except ImportError:
            raise BadInput(
                f"store {self.location}: PostgreSQL needs psycopg 3 (pip install 'psycopg[binary]')"
            ) from None
        self._psycopg = psycopg
        self._lock = threading.Lock()
        try:
            self._db = psycopg.connect(url, connect_timeout=_CONNECT_TIMEOUT_S)
        except psycopg.OperationalError as exc:
            raise Unavailable(
                f"store {self.location}: cannot connect: {_first_line(exc)}"
            ) from None
        except psycopg.ProgrammingError as exc:  # a malformed connection string
            raise BadInput(f"store {self.location}: {_first_line(exc)}") from None
        try:
            self._open()
        except BaseException:
            self._db.close()
            raise

    # -- opening
    def _open(self) -> None:
        with self._guard() as db, db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            version = self._inspect(db)
            if version > SCHEMA_VERSION:
                raise BadInput(
                    f"store {self.location}: written by a newer harness (schema {version}, "
                    f"this one reads {SCHEMA_VERSION}); nothing was changed"
                )
            for step in range(version, SCHEMA_VERSION):
                db.execute(MIGRATIONS[step].encode())
                db.execute(
                    f"INSERT INTO {SCHEMA}.meta (application, version, updated) "
                    "VALUES (%s, %s, %s) ON CONFLICT (application) "
                    "DO UPDATE SET version = EXCLUDED.version, updated = EXCLUDED.updated",
                    (APPLICATION, step + 1, time.time()),
                )

    def _inspect(self, db: Any) -> int:
        """The schema version of our data, 0 for an empty database; ``BadInput`` when the
        database holds something that is not ours."""
        ours = db.execute(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s", (SCHEMA,)
        ).fetchone()[0]
        if not ours:
            others = db.execute(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
                "ORDER BY 1 LIMIT 3"
            ).fetchall()
            if others:
                names = ", ".join(row[0] for row in others)
                raise BadInput(
                    f"store {self.location}: the database holds other tables ({names}) and no "
                    f"{SCHEMA} schema, so it is not a harness store; nothing was changed "
                    "(give the harness a database of its own, e.g. createdb harness)"
                )
            return 0
        meta = db.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = %s AND table_name = 'meta'",
            (SCHEMA,),
        ).fetchone()[0]
        row = (
            db.execute(
                f"SELECT version FROM {SCHEMA}.meta WHERE application = %s", (APPLICATION,)
            ).fetchone()
            if meta
            else None
        )
        if row is None:
            raise BadInput(
                f"store {self.location}: schema {SCHEMA} exists but was not made by the "
                "harness (no meta row); nothing was changed"
            )
        return int(row[0])

    @contextmanager
    def _guard(self) -> Iterator[Any]:
        psycopg = self._psycopg
        with self._lock:
            try:
                yield self._db
            except psycopg.OperationalError as exc:
                raise Unavailable(f"store {self.location}: {_first_line(exc)}") from None
            except psycopg.Error as exc:
                if not self._db.closed and self._db.info.transaction_status != 0:
                    self._db.rollback()
                raise BadInput(f"store {self.location}: {_first_line(exc)}") from None
            finally:
                # Autocommit is off: a read leaves a transaction open; end it.
                if not self._db.closed and self._db.info.transaction_status != 0:
                    self._db.rollback()

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
        if run_id is not None and not is_run_id(run_id):
            raise BadInput(f"{run_id!r} is not a run id (like 20261126-185501-ab12)")
        if kind not in RUN_KINDS:
            raise BadInput(f"run kind must be one of {', '.join(RUN_KINDS)}, not {kind!r}")
        started = time.time() if started is None else started
        row = (
            kind,
            namespace,
            service,
            _dumps(list(revisions)),
            label,
            started,
            RUNNING,
            _dumps(dict(spec or {})),
            None if original_traffic is None else _dumps([dict(t) for t in original_traffic]),
        )
        with self._guard() as db:
            while True:
                new_id = run_id or new_run_id(started)
                with db.transaction():
                    inserted = db.execute(
                        f"INSERT INTO {SCHEMA}.runs (id, kind, namespace, service, revisions, "
                        "label, started, status, spec, original_traffic) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                        "ON CONFLICT (id) DO NOTHING",
                        (new_id, *row),
                    ).rowcount
                if inserted:
                    return self._run(db, new_id)
                if run_id is not None:
                    raise BadInput(f"run {run_id} already exists in {self.location}")

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
        with self._guard() as db:
            with db.transaction():
                self._running(db, run_id, lock=True)
                db.execute(
                    f"UPDATE {SCHEMA}.runs SET status = %s, finished = %s, summary = %s "
                    "WHERE id = %s",
                    (
                        status,
                        time.time() if finished is None else finished,
                        None if summary is None else _dumps(dict(summary)),
                        run_id,
                    ),
                )
            return self._run(db, run_id)

    def get_run(self, run_id: str) -> RunRecord:
        """See `Store.get_run`."""
        with self._guard() as db:
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
        with self._guard() as db:
            rows = db.execute(
                f"SELECT {_RUN_COLUMNS} FROM {SCHEMA}.runs{where} "
                "ORDER BY started DESC, id DESC LIMIT %s",
                (*params, max(0, limit)),
            ).fetchall()
        return [_run_record(row) for row in rows]

    def _run(self, db: Any, run_id: str, *, lock: bool = False) -> RunRecord:
        if not is_run_id(run_id):
            raise BadInput(f"{run_id!r} is not a run id (like 20261126-185501-ab12)")
        suffix = " FOR UPDATE" if lock else ""
        row = db.execute(
            f"SELECT {_RUN_COLUMNS} FROM {SCHEMA}.runs WHERE id = %s{suffix}", (run_id,)
        ).fetchone()
        if row is None:
            raise BadInput(f"no run {run_id} in {self.location}")
        return _run_record(row)

    def _running(self, db: Any, run_id: str, *, lock: bool = False) -> RunRecord:
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
        arms_blob = _pack(dict(arms))
        verdict_text = _dumps(dict(verdict))
        with self._guard() as db, db.transaction():
            self._running(db, run_id, lock=True)
            seq = _next_seq(db, "looks", run_id)
            db.execute(
                f"INSERT INTO {SCHEMA}.looks (run_id, seq, t, step, percent, arms, verdict) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (run_id, seq, look_t, step, percent, arms_blob, verdict_text),
            )
        return JournalLook(run_id, seq, look_t, step, percent, dict(arms), dict(verdict))

    def begin_action(
        self, run_id: str, kind: str, payload: Mapping[str, Any], *, t: float | None = None
    ) -> ActionRecord:
        """See `Store.begin_action`."""
        if not _ACTION_KIND.fullmatch(kind):
            raise BadInput(f"action kind {kind!r} must be a lower_snake_case word")
        action_t = time.time() if t is None else t
        payload_text = _dumps(dict(payload))
        with self._guard() as db, db.transaction():
            self._running(db, run_id, lock=True)
            seq = _next_seq(db, "actions", run_id)
            db.execute(
                f"INSERT INTO {SCHEMA}.actions (run_id, seq, t, kind, payload) "
                "VALUES (%s, %s, %s, %s, %s)",
                (run_id, seq, action_t, kind, payload_text),
            )
        return ActionRecord(run_id, seq, action_t, kind, dict(payload), False, None, None)

    def complete_action(
        self,
        run_id: str,
        seq: int,
        *,
        result: Mapping[str, Any] | None = None,
        t: float | None = None,
    ) -> ActionRecord:
        """See `Store.complete_action`."""
        with self._guard() as db:
            with db.transaction():
                self._run(db, run_id)
                updated = db.execute(
                    f"UPDATE {SCHEMA}.actions SET done = TRUE, done_t = %s, result = %s "
                    "WHERE run_id = %s AND seq = %s AND NOT done",
                    (
                        time.time() if t is None else t,
                        None if result is None else _dumps(dict(result)),
                        run_id,
                        seq,
                    ),
                ).rowcount
            row = db.execute(
                f"SELECT {_ACTION_COLUMNS} FROM {SCHEMA}.actions WHERE run_id = %s AND seq = %s",
                (run_id, seq),
            ).fetchone()
        if row is None:
            raise BadInput(f"run {run_id} has no action {seq}")
        if not updated:
            raise BadInput(f"action {seq} of run {run_id} was already completed")
        return _action_record(row)

    def looks(self, run_id: str) -> list[JournalLook]:
        """See `Store.looks`."""
        with self._guard() as db:
            self._run(db, run_id)
            rows = db.execute(
                f"SELECT run_id, seq, t, step, percent, arms, verdict FROM {SCHEMA}.looks "
                "WHERE run_id = %s ORDER BY seq",
                (run_id,),
            ).fetchall()
        import json

        return [
            JournalLook(r[0], r[1], r[2], r[3], r[4], _unpack(bytes(r[5])), json.loads(r[6]))
            for r in rows
        ]

    def actions(self, run_id: str) -> list[ActionRecord]:
        """See `Store.actions`."""
        with self._guard() as db:
            self._run(db, run_id)
            rows = db.execute(
                f"SELECT {_ACTION_COLUMNS} FROM {SCHEMA}.actions WHERE run_id = %s ORDER BY seq",
                (run_id,),
            ).fetchall()
        return [_action_record(row) for row in rows]

    # -- perf history
    def save_perf_result(self, run_id: str, result: PerfResult) -> None:
        """See `Store.save_perf_result`."""
        row = (
            run_id,
            result.arm,
            int(result.requests),
            int(result.errors),
            float(result.duration_s),
            _dumps({k: float(v) for k, v in result.stats.items()}),
            _pack(result.latency),
            None if result.server is None else _pack(result.server),
        )
        with self._guard() as db, db.transaction():
            run = self._run(db, run_id)
            if run.kind != "perf":
                raise BadInput(f"run {run_id} is a {run.kind} run, not a perf run")
            inserted = db.execute(
                f"INSERT INTO {SCHEMA}.perf_results (run_id, arm, requests, errors, "
                "duration_s, stats, latency, server) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (run_id, arm) DO NOTHING",
                row,
            ).rowcount
            if not inserted:
                raise BadInput(f"run {run_id} already has a result for arm {result.arm!r}")

    def load_perf_results(self, run_id: str) -> dict[str, PerfResult]:
        """See `Store.load_perf_results`."""
        import json

        with self._guard() as db:
            self._run(db, run_id)
            rows = db.execute(
                "SELECT arm, requests, errors, duration_s, stats, latency, server "
                f"FROM {SCHEMA}.perf_results WHERE run_id = %s ORDER BY arm",
                (run_id,),
            ).fetchall()
        return {
            row[0]: PerfResult(
                arm=row[0],
                requests=row[1],
                errors=row[2],
                duration_s=row[3],
                stats=json.loads(row[4]),
                latency=_unpack(bytes(row[5])),
                server=None if row[6] is None else _unpack(bytes(row[6])),
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
        import json

        where, params = _filters(
            prefix="r.",
            namespace=namespace,
            service=service,
            kind="perf",
            status=RunStatus.COMPLETED,
            label=label,
        )
        if arm is not None:
            where += " AND p.arm = %s"
            params.append(arm)
        with self._guard() as db:
            rows = db.execute(
                "SELECT r.id, r.started, r.label, p.arm, p.requests, p.errors, p.duration_s, "
                f"p.stats FROM {SCHEMA}.runs r JOIN {SCHEMA}.perf_results p ON p.run_id = r.id"
                f"{where} ORDER BY r.started DESC, r.id DESC, p.arm LIMIT %s",
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
        """Copy one run with its journal and results, all or nothing; False when a run with
        that id is already here (left as it is)."""
        with self._guard() as db, db.transaction():
            inserted = db.execute(
                f"INSERT INTO {SCHEMA}.runs ({_RUN_COLUMNS}) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                (
                    run.id,
                    run.kind,
                    run.namespace,
                    run.service,
                    _dumps(list(run.revisions)),
                    run.label,
                    run.started,
                    run.finished,
                    run.status,
                    _dumps(run.spec),
                    None if run.original_traffic is None else _dumps(run.original_traffic),
                    None if run.summary is None else _dumps(run.summary),
                ),
            ).rowcount
            if not inserted:
                return False
            for look in looks:
                db.execute(
                    f"INSERT INTO {SCHEMA}.looks (run_id, seq, t, step, percent, arms, verdict) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (
                        run.id,
                        look.seq,
                        look.t,
                        look.step,
                        look.percent,
                        _pack(look.arms),
                        _dumps(look.verdict),
                    ),
                )
            for action in actions:
                db.execute(
                    f"INSERT INTO {SCHEMA}.actions ({_ACTION_COLUMNS}) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        run.id,
                        action.seq,
                        action.t,
                        action.kind,
                        _dumps(action.payload),
                        action.done,
                        action.done_t,
                        None if action.result is None else _dumps(action.result),
                    ),
                )
            for result in perf.values():
                db.execute(
                    f"INSERT INTO {SCHEMA}.perf_results (run_id, arm, requests, errors, "
                    "duration_s, stats, latency, server) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        run.id,
                        result.arm,
                        int(result.requests),
                        int(result.errors),
                        float(result.duration_s),
                        _dumps(result.stats),
                        _pack(result.latency),
                        None if result.server is None else _pack(result.server),
                    ),
                )
        return True

    def close(self) -> None:
        """See `Store.close`."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _filters(prefix: str = "", **values: str | None) -> tuple[str, list[Any]]:
    clauses = [f"{prefix}{column} = %s" for column, value in values.items() if value is not None]
    params: list[Any] = [value for value in values.values() if value is not None]
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _next_seq(db: Any, table: str, run_id: str) -> int:
    row = db.execute(
        f"SELECT max(seq) FROM {SCHEMA}.{table} WHERE run_id = %s", (run_id,)
    ).fetchone()
    return 1 if row[0] is None else int(row[0]) + 1


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
