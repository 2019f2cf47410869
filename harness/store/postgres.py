"""The PostgreSQL dialect (``--store postgresql://...`` or ``HARNESS_STORE``), psycopg 3.

One database can serve a team: CI jobs, nightly CronJobs and canaries write to it at
once, and `harness gate` sees every run (the semantics are `SqlStore`'s).

* **Ownership.** Everything lives in the schema ``knative_harness``, whose ``meta`` table
  names the application and the schema version. A database that has that schema without
  our ``meta`` row, or has other tables and no such schema, is not ours: the store stops
  with a clear error and changes nothing. An empty database is initialised.
* **Versioned migrations.** ``MIGRATIONS[n]`` takes the schema from version n to n + 1;
  opening applies the missing ones in one transaction under an advisory lock, so two
  processes opening at once migrate once. A schema newer than this harness is refused.
* **The check on open** (PostgreSQL's counterpart of SQLite's header, application id,
  schema version and ``quick_check``): after the version, every table, column, column
  type and primary key of `EXPECTED_TABLES` must be there as the migrations made them.
  A tampered schema (a dropped column or key, a changed type, a missing table) is
  refused with one line and nothing is changed; it is never repaired.
* **Concurrent writers.** Appending a look or an action locks the run's row
  (``SELECT ... FOR UPDATE``) inside its transaction.

The connection is in autocommit mode: a statement outside `transaction` commits alone.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from harness.errors import BadInput, Unavailable
from harness.store.sql import Cursor, SqlStore

__all__ = [
    "APPLICATION",
    "EXPECTED_TABLES",
    "MIGRATIONS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "PostgresDatabase",
    "PostgresStore",
    "display_url",
    "is_postgres_url",
    "normalise_url",
]

SCHEMA = "knative_harness"
APPLICATION = "knative-harness"
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

# The tables at SCHEMA_VERSION as the migrations leave them: column -> type (as
# information_schema.columns.data_type names it), and the primary key. Update it with
# every new migration; opening a database checks it.
EXPECTED_TABLES: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "meta": (
        {"application": "text", "version": "integer", "updated": "double precision"},
        ("application",),
    ),
    "runs": (
        {
            "id": "text",
            "kind": "text",
            "namespace": "text",
            "service": "text",
            "revisions": "text",
            "label": "text",
            "started": "double precision",
            "finished": "double precision",
            "status": "text",
            "spec": "text",
            "original_traffic": "text",
            "summary": "text",
        },
        ("id",),
    ),
    "looks": (
        {
            "run_id": "text",
            "seq": "integer",
            "t": "double precision",
            "step": "integer",
            "percent": "integer",
            "arms": "bytea",
            "verdict": "text",
        },
        ("run_id", "seq"),
    ),
    "actions": (
        {
            "run_id": "text",
            "seq": "integer",
            "t": "double precision",
            "kind": "text",
            "payload": "text",
            "done": "boolean",
            "done_t": "double precision",
            "result": "text",
        },
        ("run_id", "seq"),
    ),
    "perf_results": (
        {
            "run_id": "text",
            "arm": "text",
            "requests": "bigint",
            "errors": "bigint",
            "duration_s": "double precision",
            "stats": "text",
            "latency": "bytea",
            "server": "bytea",
        },
        ("run_id", "arm"),
    ),
}


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


class _QmarkConnection:
    """A psycopg connection taking the shared statements' ``?`` placeholders."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Cursor:
        if not params:
            cursor: Cursor = self.conn.execute(sql)
        else:
            cursor = self.conn.execute(sql.replace("%", "%%").replace("?", "%s"), tuple(params))
        return cursor


class PostgresDatabase:
    """The `Dialect` of a PostgreSQL database. One connection, one lock: safe to share
    between threads; safe for many processes at once (row locks, advisory lock)."""

    table_prefix = SCHEMA + "."
    lock_clause = " FOR UPDATE"

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
            conn = psycopg.connect(url, connect_timeout=_CONNECT_TIMEOUT_S, autocommit=True)
        except psycopg.OperationalError as exc:
            raise Unavailable(
                f"store {self.location}: cannot connect: {_first_line(exc)}"
            ) from None
        except psycopg.ProgrammingError as exc:  # a malformed connection string
            raise BadInput(f"store {self.location}: {_first_line(exc)}") from None
        self._db = _QmarkConnection(conn)
        try:
            self._open()
        except BaseException:
            conn.close()
            raise

    # -- the check on open
    def _open(self) -> None:
        with self.session() as db, self.transaction():
            db.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
            version = self._version(db)
            for step in range(version, SCHEMA_VERSION):
                db.execute(MIGRATIONS[step])
                db.execute(
                    f"INSERT INTO {SCHEMA}.meta (application, version, updated) "
                    "VALUES (?, ?, ?) ON CONFLICT (application) "
                    "DO UPDATE SET version = EXCLUDED.version, updated = EXCLUDED.updated",
                    (APPLICATION, step + 1, time.time()),
                )
            problems = schema_problems(db)
            if problems:
                shown = "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else "")
                raise BadInput(
                    f"store {self.location}: schema {SCHEMA} is not the harness's schema "
                    f"{SCHEMA_VERSION} ({shown}); nothing was changed"
                )

    def _version(self, db: _QmarkConnection) -> int:
        """The schema version of our data, 0 for an empty database; ``BadInput`` when the
        database holds something that is not ours or is newer."""
        ours = db.execute(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?", (SCHEMA,)
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
            "WHERE table_schema = ? AND table_name = 'meta'",
            (SCHEMA,),
        ).fetchone()[0]
        row = (
            db.execute(
                f"SELECT version FROM {SCHEMA}.meta WHERE application = ?", (APPLICATION,)
            ).fetchone()
            if meta
            else None
        )
        if row is None:
            raise BadInput(
                f"store {self.location}: schema {SCHEMA} exists but was not made by the "
                "harness (no meta row); nothing was changed"
            )
        version = row[0]
        if not isinstance(version, int) or version < 1:
            raise BadInput(
                f"store {self.location}: unknown schema version {version!r} in {SCHEMA}.meta; "
                "nothing was changed"
            )
        if version > SCHEMA_VERSION:
            raise BadInput(
                f"store {self.location}: written by a newer harness (schema {version}, "
                f"this one reads {SCHEMA_VERSION}); nothing was changed"
            )
        return version

    # -- Dialect
    @contextmanager
    def session(self) -> Iterator[_QmarkConnection]:
        """See `Dialect.session`."""
        psycopg = self._psycopg
        with self._lock:
            try:
                yield self._db
            except psycopg.OperationalError as exc:
                raise Unavailable(f"store {self.location}: {_first_line(exc)}") from None
            except psycopg.Error as exc:
                raise BadInput(f"store {self.location}: {_first_line(exc)}") from None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """See `Dialect.transaction`: BEGIN ... COMMIT (ROLLBACK on any exception)."""
        with self._db.conn.transaction():
            yield

    def close(self) -> None:
        with self._lock:
            self._db.conn.close()


def schema_problems(db: _QmarkConnection) -> list[str]:
    """How the tables in our schema differ from `EXPECTED_TABLES` (empty: they match)."""
    columns: dict[str, dict[str, str]] = {}
    for table, column, data_type in db.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? ORDER BY table_name, ordinal_position",
        (SCHEMA,),
    ).fetchall():
        columns.setdefault(str(table), {})[str(column)] = str(data_type)
    keys: dict[str, list[str]] = {}
    for table, column in db.execute(
        "SELECT tc.table_name, kcu.column_name FROM information_schema.table_constraints tc "
        "JOIN information_schema.key_column_usage kcu "
        "ON kcu.constraint_schema = tc.constraint_schema "
        "AND kcu.constraint_name = tc.constraint_name "
        "WHERE tc.table_schema = ? AND tc.constraint_type = 'PRIMARY KEY' "
        "ORDER BY tc.table_name, kcu.ordinal_position",
        (SCHEMA,),
    ).fetchall():
        keys.setdefault(str(table), []).append(str(column))
    problems: list[str] = []
    for table, (expected, key) in EXPECTED_TABLES.items():
        found = columns.get(table)
        if found is None:
            problems.append(f"table {table} is missing")
            continue
        for column, data_type in expected.items():
            if column not in found:
                problems.append(f"column {table}.{column} is missing")
            elif found[column] != data_type:
                problems.append(f"column {table}.{column} is {found[column]}, not {data_type}")
        problems += [f"column {table}.{c} is not the harness's" for c in found if c not in expected]
        if tuple(keys.get(table, ())) != key:
            problems.append(f"table {table} lacks its primary key ({', '.join(key)})")
    return problems


class PostgresStore(SqlStore):
    """`Store` on a PostgreSQL database (see the module docstring)."""

    def __init__(self, location: object) -> None:
        super().__init__(PostgresDatabase(location))

    def __enter__(self) -> PostgresStore:
        return self


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
