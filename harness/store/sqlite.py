"""The SQLite dialect: one file, WAL mode, ``synchronous=FULL``, ``BEGIN IMMEDIATE``.

Safety of history: an existing file is inspected read-only before anything is written
(SQLite header, ``PRAGMA application_id``, schema version, ``PRAGMA quick_check``); a
file that is not a harness store (random bytes, another application's SQLite database,
a newer schema) is refused with `BadInput` and left byte-for-byte as it was. A store is
created in a temporary file and linked into place, so a crash never leaves a
half-created file, and an existing file is never replaced. Corruption found later, by a
query, is also `BadInput`; nothing is ever deleted or repaired automatically.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.errors import BadInput, Unavailable
from harness.store.sql import SqlStore

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "SqliteFile", "SqliteStore"]

SCHEMA_VERSION = 1
# PRAGMA application_id "KNHR": tells our files from other applications' SQLite files.
APPLICATION_ID = 0x4B4E4852
_SQLITE_MAGIC = b"SQLite format 3\x00"
_HEADER_SIZE = 100
_BUSY_TIMEOUT_S = 10.0

# Rowid tables on purpose: WITHOUT ROWID would push every row over ~1 KB (a histogram)
# into its own overflow page and double the file.
_SCHEMA = """
CREATE TABLE schema_version (version INTEGER NOT NULL, applied REAL NOT NULL);
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('canary', 'perf')),
    namespace TEXT NOT NULL,
    service TEXT NOT NULL,
    revisions TEXT NOT NULL,
    label TEXT,
    started REAL NOT NULL,
    finished REAL,
    status TEXT NOT NULL,
    spec TEXT NOT NULL,
    original_traffic TEXT,
    summary TEXT
);
CREATE INDEX runs_by_service ON runs (namespace, service, kind, started);
CREATE TABLE looks (
    run_id TEXT NOT NULL REFERENCES runs (id),
    seq INTEGER NOT NULL,
    t REAL NOT NULL,
    step INTEGER NOT NULL,
    percent INTEGER NOT NULL,
    arms BLOB NOT NULL,
    verdict TEXT NOT NULL,
    UNIQUE (run_id, seq)
);
CREATE TABLE actions (
    run_id TEXT NOT NULL REFERENCES runs (id),
    seq INTEGER NOT NULL,
    t REAL NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    done_t REAL,
    result TEXT,
    UNIQUE (run_id, seq)
);
CREATE TABLE perf_results (
    run_id TEXT NOT NULL REFERENCES runs (id),
    arm TEXT NOT NULL,
    requests INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    duration_s REAL NOT NULL,
    stats TEXT NOT NULL,
    latency BLOB NOT NULL,
    server BLOB,
    UNIQUE (run_id, arm)
);
"""


class SqliteFile:
    """The `Dialect` of one SQLite file. Opening inspects an existing file read-only (or
    creates a new one) and raises BadInput for a file that is not a harness store, has a
    newer schema, or sits in a missing folder; the file is never modified in those cases."""

    table_prefix = ""
    lock_clause = ""  # BEGIN IMMEDIATE already holds the file's write lock

    def __init__(self, path: Path) -> None:
        self.path = path.expanduser()
        self.location = str(self.path)
        self._lock = threading.Lock()
        if self.path.exists() or self.path.is_symlink():
            self._inspect_existing()
        else:
            self._create()
        try:
            self._db = sqlite3.connect(
                self.path,
                timeout=_BUSY_TIMEOUT_S,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise self._translate(exc) from None
        with self.session() as db:
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA synchronous = FULL")

    # -- opening
    def _inspect_existing(self) -> None:
        if not self.path.is_file():
            raise BadInput(f"store {self.path}: not a regular file")
        try:
            with self.path.open("rb") as handle:
                header = handle.read(_HEADER_SIZE)
        except OSError as exc:
            raise BadInput(f"store {self.path}: cannot read: {exc.strerror}") from None
        if len(header) < _HEADER_SIZE or not header.startswith(_SQLITE_MAGIC):
            raise BadInput(
                f"store {self.path}: not a harness history store (not an SQLite database); "
                "the file was left untouched"
            )
        application_id = int.from_bytes(header[68:72], "big")
        if application_id != APPLICATION_ID:
            raise BadInput(
                f"store {self.path}: an SQLite database of another application, not a harness "
                "history store; the file was left untouched"
            )
        try:
            probe = sqlite3.connect(self._read_only_uri(), uri=True)
            try:
                row = probe.execute("SELECT max(version) FROM schema_version").fetchone()
                problems = [r[0] for r in probe.execute("PRAGMA quick_check(5)").fetchall()]
            finally:
                probe.close()
        except sqlite3.Error as exc:
            if isinstance(exc, sqlite3.DatabaseError) and _is_corruption(str(exc)):
                raise self._corrupt(str(exc)) from None
            raise BadInput(
                f"store {self.path}: unreadable harness history ({exc}); the file was left "
                "untouched"
            ) from None
        if problems != ["ok"]:
            lines = [x for p in problems for x in str(p).splitlines() if not x.startswith("***")]
            raise self._corrupt("quick_check: " + "; ".join(lines[:2])[:200])
        version = row[0] if row else None
        if version != SCHEMA_VERSION:
            newer = isinstance(version, int) and version > SCHEMA_VERSION
            reason = (
                f"written by a newer harness (schema {version}, this one reads {SCHEMA_VERSION})"
                if newer
                else f"unknown schema version {version!r}"
            )
            raise BadInput(f"store {self.path}: {reason}; the file was left untouched")

    def _read_only_uri(self) -> str:
        """A URI that reads the file without creating anything next to it.

        A WAL-mode database opened even read-only creates ``-wal`` and ``-shm`` files when
        they are missing; ``immutable=1`` does not. When a ``-wal`` file exists (a writer
        is active, or one was killed) it must be read, so then ``mode=ro`` is used: its
        companion files exist already.
        """
        uri = self.path.resolve().as_uri()
        wal = Path(f"{self.path}-wal")
        if wal.exists():
            return f"{uri}?mode=ro"
        return f"{uri}?mode=ro&immutable=1"

    def _corrupt(self, detail: str) -> BadInput:
        return BadInput(
            f"store {self.path}: corrupt ({detail}); nothing was changed; keep a copy and "
            "point --store at a new file"
        )

    def _create(self) -> None:
        if not self.path.parent.is_dir():
            raise BadInput(f"store {self.path}: folder {self.path.parent} does not exist")
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            db = sqlite3.connect(tmp, isolation_level=None)
            try:
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                db.execute("PRAGMA journal_mode = WAL")
                db.executescript(
                    "BEGIN;"
                    + _SCHEMA
                    + f"INSERT INTO schema_version VALUES ({SCHEMA_VERSION}, {time.time()});"
                    + "COMMIT;"
                )
            finally:
                db.close()  # checkpoints and removes the WAL: the file alone is complete
            try:
                # link() refuses to replace: another process that created the store first wins.
                os.link(tmp, self.path)
            except FileExistsError:
                self._inspect_existing()
        except (OSError, sqlite3.Error) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise BadInput(f"store {self.path}: cannot create: {reason}") from None
        finally:
            for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
                leftover.unlink(missing_ok=True)

    @contextmanager
    def session(self) -> Iterator[sqlite3.Connection]:
        """See `Dialect.session`."""
        with self._lock:
            try:
                yield self._db
            except BaseException as exc:
                # Also on Ctrl-C between BEGIN and COMMIT: never leave a transaction open.
                if self._db.in_transaction:
                    self._db.rollback()
                if isinstance(exc, sqlite3.Error):
                    raise self._translate(exc) from None
                raise

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """See `Dialect.transaction`: ``BEGIN IMMEDIATE`` takes the write lock at once, so
        what the transaction reads stays true until it commits."""
        self._db.execute("BEGIN IMMEDIATE")
        yield
        self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _translate(self, exc: sqlite3.Error) -> BadInput | Unavailable:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return Unavailable(f"store {self.path}: busy ({text}); another process holds it")
        if isinstance(exc, sqlite3.DatabaseError) and _is_corruption(text):
            return self._corrupt(text)
        if isinstance(exc, sqlite3.OperationalError):
            return Unavailable(f"store {self.path}: {text}")
        return BadInput(f"store {self.path}: {text}")


class SqliteStore(SqlStore):
    """`Store` on one SQLite file (WAL, synchronous=FULL). Safe to share between threads."""

    def __init__(self, path: Path) -> None:
        """Open (inspecting read-only first) or create the store at ``path``."""
        dialect = SqliteFile(path)
        super().__init__(dialect)
        self.path = dialect.path

    def __enter__(self) -> SqliteStore:
        return self


def _is_corruption(text: str) -> bool:
    return any(word in text for word in ("malformed", "not a database", "corrupt"))
