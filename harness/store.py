"""The run journal and perf history: `Store`, implemented on SQLite by `SqliteStore`.

One file holds every run (canary and perf) with its spec, the looks and actions of a
canary, and the results of perf runs (counts and latency histograms, never raw
samples). Callers depend on the `Store` protocol and get an instance from `open_store`,
so a server database can be added behind the same methods without touching them.

Durability: every ``record_look``/``begin_action`` is its own transaction, committed with
``synchronous=FULL`` in WAL mode before the method returns, so a look or an intended
action survives a SIGKILL (and a power cut) the moment the caller goes on to act on it.

Safety of history: an existing file is inspected read-only before anything is written;
a file that is not a harness store (random bytes, another application's SQLite
database, a newer schema) is refused with `BadInput` and left byte-for-byte as it was.
A store is created in a temporary file and linked into place, so a crash never leaves a
half-created file, and an existing file is never replaced. Corruption found later, by a
query, is also `BadInput`; nothing is ever deleted or repaired automatically.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from harness.errors import BadInput, Unavailable
from harness.redact import redact_values
from harness.statedir import ensure_state_dir, resolve_state_dir
from harness.statuses import RunStatus

__all__ = [
    "ACTION_KINDS",
    "DEFAULT_STORE_FILE",
    "FINAL_STATUSES",
    "SCHEMA_VERSION",
    "ActionRecord",
    "HistoryPoint",
    "JournalLook",
    "PerfResult",
    "RunKind",
    "RunRecord",
    "SqliteStore",
    "Store",
    "default_store_path",
    "is_run_id",
    "new_run_id",
    "open_store",
    "store_path",
]

RunKind = Literal["canary", "perf"]
RUN_KINDS: tuple[str, ...] = ("canary", "perf")
RUNNING = RunStatus.RUNNING
FINAL_STATUSES = frozenset(RunStatus) - {RunStatus.RUNNING}
# The kinds the canary writes; others are accepted if they are lower_snake_case words.
ACTION_KINDS = ("set_traffic", "rollback", "promote", "hold", "apply")
_ACTION_KIND = re.compile(r"[a-z][a-z_]{0,31}")
_RUN_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{4}")

DEFAULT_STORE_FILE = "history.sqlite"
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


# ----------------------------------------------------------------- records
@dataclass(frozen=True)
class RunRecord:
    """One run. ``revisions`` is (baseline, candidate) for a canary, (revision,) or () for perf.

    ``original_traffic`` is the Service's ``spec.traffic`` (Knative camelCase dicts) before
    a canary touched it; ``summary`` is what `finish_run` recorded (decision, reasons).
    Times are Unix seconds.
    """

    id: str
    kind: str
    namespace: str
    service: str
    revisions: tuple[str, ...]
    label: str | None
    started: float
    finished: float | None
    status: str
    spec: dict[str, Any]
    original_traffic: list[dict[str, Any]] | None
    summary: dict[str, Any] | None

    @property
    def running(self) -> bool:
        """True until `finish_run`; a run killed mid-way stays running (it can be resumed)."""
        return self.status == RUNNING


@dataclass(frozen=True)
class JournalLook:
    """One look of a canary: the cumulative per-arm snapshots and the judge's verdict dict."""

    run_id: str
    seq: int
    t: float
    step: int
    percent: int
    arms: dict[str, Any]
    verdict: dict[str, Any]


@dataclass(frozen=True)
class ActionRecord:
    """An action on the cluster, written as intended before acting; ``done`` once it took effect."""

    run_id: str
    seq: int
    t: float
    kind: str
    payload: dict[str, Any]
    done: bool
    done_t: float | None
    result: dict[str, Any] | None


@dataclass(frozen=True)
class PerfResult:
    """What a perf run keeps per arm: counts, a histogram dict and summary numbers.

    ``latency`` is `analysis.Histogram.to_dict()`; ``stats`` holds the numbers trends are
    drawn from (e.g. ``p50_ms``, ``p99_ms``, ``rps``, ``error_rate``); ``server`` is the
    optional server-side (Prometheus) view, any JSON-safe dict.
    """

    arm: str
    requests: int
    errors: int
    duration_s: float
    latency: dict[str, Any]
    stats: dict[str, float] = field(default_factory=dict)
    server: dict[str, Any] | None = None


@dataclass(frozen=True)
class HistoryPoint:
    """One completed perf run's numbers for trend plots, without its histogram."""

    run_id: str
    started: float
    label: str | None
    arm: str
    requests: int
    errors: int
    duration_s: float
    stats: dict[str, float]


# ----------------------------------------------------------------- the contract
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

    def close(self) -> None:
        """Release the store; further calls are errors."""
        ...


# ----------------------------------------------------------------- opening
def default_store_path() -> Path:
    """``<state dir>/history.sqlite``; the state dir is resolved as `harness local` does."""
    return resolve_state_dir() / DEFAULT_STORE_FILE


def store_path(location: str | Path | None) -> Path | None:
    """The file a ``--store`` value names: None for the default file, a path, or
    ``sqlite:///PATH``; None for another URL scheme (which `open_store` refuses).

    ``sqlite:///PATH`` may arrive normalised by ``pathlib`` (CLI options typed ``Path``
    turn ``sqlite:///tmp/h.sqlite`` into ``sqlite:/tmp/h.sqlite``); both spell the file
    ``/tmp/h.sqlite``.
    """
    if location is None:
        location = os.environ.get("HARNESS_STORE") or None
        if location is None:
            return default_store_path()
    text = str(location)
    if text.startswith("sqlite:"):
        rest = text.removeprefix("sqlite:")
        if not rest.startswith("/"):
            raise BadInput(f"store {text}: write sqlite:///PATH with an absolute PATH")
        return Path("/" + rest.lstrip("/"))
    from harness.store_pg import is_postgres_url

    if re.match(r"^[a-z][a-z0-9+.-]*://", text) or is_postgres_url(text):
        return None
    return Path(text)


def open_store(location: str | Path | None = None) -> Store:
    """The store at ``location``: None for ``$HARNESS_STORE`` or else the default file, a
    path, ``sqlite:///PATH``, or ``postgresql://...`` (`harness.store_pg.PostgresStore`).

    The default file (and its folder) is created on first use; an explicit path must
    be in an existing folder. Other URL schemes are BadInput.
    An existing file is checked first (header, schema, ``PRAGMA quick_check``) without
    writing anything, so a damaged store is refused before any command uses it.
    """
    if location is None:
        location = os.environ.get("HARNESS_STORE") or None  # a team's shared store
    if location is not None:
        from harness.store_pg import PostgresStore, is_postgres_url

        if is_postgres_url(location):
            return PostgresStore(location)
    path = store_path(location)
    if path is None:
        raise BadInput(
            f"store {location}: unsupported scheme "
            "(use a file path, sqlite:///PATH or postgresql://...)"
        )
    if location is None:
        ensure_state_dir(path.parent)
    return SqliteStore(path)


def is_run_id(text: str) -> bool:
    """True for ids as `create_run` makes them, e.g. ``20261126-185501-ab12``."""
    return bool(_RUN_ID.fullmatch(text))


class SqliteStore:
    """`Store` on one SQLite file (WAL, synchronous=FULL). Safe to share between threads."""

    def __init__(self, path: Path) -> None:
        """Open (inspecting read-only first) or create the store at ``path``.

        Raises BadInput for a file that is not a harness store or has a newer schema,
        and for a missing folder; the file is never modified in those cases.
        """
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
        with self._guard():
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA synchronous = FULL")

    # -- opening helpers
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
    def _guard(self) -> Iterator[sqlite3.Connection]:
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

    def _translate(self, exc: sqlite3.Error) -> BadInput | Unavailable:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return Unavailable(f"store {self.path}: busy ({text}); another process holds it")
        if isinstance(exc, sqlite3.DatabaseError) and _is_corruption(text):
            return self._corrupt(text)
        if isinstance(exc, sqlite3.OperationalError):
            return Unavailable(f"store {self.path}: {text}")
        return BadInput(f"store {self.path}: {text}")

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
                try:
                    db.execute(
                        "INSERT INTO runs (id, kind, namespace, service, revisions, label, "
                        "started, status, spec, original_traffic) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (new_id, *row),
                    )
                    break
                except sqlite3.IntegrityError:
                    if run_id is not None:
                        raise BadInput(f"run {run_id} already exists in {self.location}") from None
                    continue  # same second, same 16 random bits: draw again
            return self._run(db, new_id)

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
            run = self._run(db, run_id)
            if not run.running:
                raise BadInput(f"run {run_id} already finished ({run.status})")
            db.execute(
                "UPDATE runs SET status = ?, finished = ?, summary = ? WHERE id = ?",
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
                f"SELECT {_RUN_COLUMNS} FROM runs{where} ORDER BY started DESC, id DESC LIMIT ?",
                (*params, max(0, limit)),
            ).fetchall()
        return [_run_record(row) for row in rows]

    def _run(self, db: sqlite3.Connection, run_id: str) -> RunRecord:
        if not is_run_id(run_id):
            raise BadInput(f"{run_id!r} is not a run id (like 20261126-185501-ab12)")
        row = db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise BadInput(f"no run {run_id} in {self.location}")
        return _run_record(row)

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
        with self._guard() as db:
            db.execute("BEGIN IMMEDIATE")
            self._running(db, run_id)
            seq = _next_seq(db, "looks", run_id)
            db.execute(
                "INSERT INTO looks (run_id, seq, t, step, percent, arms, verdict) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, seq, look_t, step, percent, arms_blob, verdict_text),
            )
            db.execute("COMMIT")
        return JournalLook(run_id, seq, look_t, step, percent, dict(arms), dict(verdict))

    def begin_action(
        self, run_id: str, kind: str, payload: Mapping[str, Any], *, t: float | None = None
    ) -> ActionRecord:
        """See `Store.begin_action`."""
        if not _ACTION_KIND.fullmatch(kind):
            raise BadInput(f"action kind {kind!r} must be a lower_snake_case word")
        action_t = time.time() if t is None else t
        payload_text = _dumps(dict(payload))
        with self._guard() as db:
            db.execute("BEGIN IMMEDIATE")
            self._running(db, run_id)
            seq = _next_seq(db, "actions", run_id)
            db.execute(
                "INSERT INTO actions (run_id, seq, t, kind, payload) VALUES (?, ?, ?, ?, ?)",
                (run_id, seq, action_t, kind, payload_text),
            )
            db.execute("COMMIT")
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
            self._run(db, run_id)
            updated = db.execute(
                "UPDATE actions SET done = 1, done_t = ?, result = ? "
                "WHERE run_id = ? AND seq = ? AND done = 0",
                (
                    time.time() if t is None else t,
                    None if result is None else _dumps(dict(result)),
                    run_id,
                    seq,
                ),
            ).rowcount
            row = db.execute(
                f"SELECT {_ACTION_COLUMNS} FROM actions WHERE run_id = ? AND seq = ?",
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
                "SELECT run_id, seq, t, step, percent, arms, verdict FROM looks "
                "WHERE run_id = ? ORDER BY seq",
                (run_id,),
            ).fetchall()
        return [
            JournalLook(r[0], r[1], r[2], r[3], r[4], _unpack(r[5]), json.loads(r[6])) for r in rows
        ]

    def actions(self, run_id: str) -> list[ActionRecord]:
        """See `Store.actions`."""
        with self._guard() as db:
            self._run(db, run_id)
            rows = db.execute(
                f"SELECT {_ACTION_COLUMNS} FROM actions WHERE run_id = ? ORDER BY seq", (run_id,)
            ).fetchall()
        return [_action_record(row) for row in rows]

    def _running(self, db: sqlite3.Connection, run_id: str) -> RunRecord:
        run = self._run(db, run_id)
        if not run.running:
            raise BadInput(f"run {run_id} already finished ({run.status})")
        return run

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
        with self._guard() as db:
            run = self._run(db, run_id)
            if run.kind != "perf":
                raise BadInput(f"run {run_id} is a {run.kind} run, not a perf run")
            try:
                db.execute(
                    "INSERT INTO perf_results (run_id, arm, requests, errors, duration_s, "
                    "stats, latency, server) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
            except sqlite3.IntegrityError:
                raise BadInput(
                    f"run {run_id} already has a result for arm {result.arm!r}"
                ) from None

    def load_perf_results(self, run_id: str) -> dict[str, PerfResult]:
        """See `Store.load_perf_results`."""
        with self._guard() as db:
            self._run(db, run_id)
            rows = db.execute(
                "SELECT arm, requests, errors, duration_s, stats, latency, server "
                "FROM perf_results WHERE run_id = ? ORDER BY arm",
                (run_id,),
            ).fetchall()
        return {
            row[0]: PerfResult(
                arm=row[0],
                requests=row[1],
                errors=row[2],
                duration_s=row[3],
                stats=json.loads(row[4]),
                latency=_unpack(row[5]),
                server=None if row[6] is None else _unpack(row[6]),
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
        with self._guard() as db:
            rows = db.execute(
                "SELECT r.id, r.started, r.label, p.arm, p.requests, p.errors, p.duration_s, "
                "p.stats FROM runs r JOIN perf_results p ON p.run_id = r.id"
                f"{where} ORDER BY r.started DESC, r.id DESC, p.arm LIMIT ?",
                (*params, max(0, limit)),
            ).fetchall()
        return [
            HistoryPoint(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]))
            for r in reversed(rows)
        ]

    def close(self) -> None:
        """See `Store.close`."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# ----------------------------------------------------------------- row helpers
_RUN_COLUMNS = (
    "id, kind, namespace, service, revisions, label, started, finished, status, spec, "
    "original_traffic, summary"
)
_ACTION_COLUMNS = "run_id, seq, t, kind, payload, done, done_t, result"


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


def _filters(prefix: str = "", **values: str | None) -> tuple[str, list[Any]]:
    clauses = [f"{prefix}{column} = ?" for column, value in values.items() if value is not None]
    params: list[Any] = [value for value in values.values() if value is not None]
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _is_corruption(text: str) -> bool:
    return any(word in text for word in ("malformed", "not a database", "corrupt"))


def _next_seq(db: sqlite3.Connection, table: str, run_id: str) -> int:
    row = db.execute(f"SELECT max(seq) FROM {table} WHERE run_id = ?", (run_id,)).fetchone()
    return 1 if row[0] is None else int(row[0]) + 1


def new_run_id(started: float | None = None) -> str:
    """A fresh run id for a run starting at ``started`` (now by default)."""
    started = time.time() if started is None else started
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime(started)) + "-" + secrets.token_hex(2)


def _dumps(value: Any) -> str:
    try:
        # A password in a URL (--prometheus http://user:pass@...) is never recorded.
        return json.dumps(redact_values(value), separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise BadInput(f"store: cannot keep a value that is not plain JSON: {exc}") from None


# Histograms and per-arm snapshots are the bulk of the file; zlib brings a fine
# histogram's JSON to about a third (see docs/reports.md, "Store size").
def _pack(value: Any) -> bytes:
    return zlib.compress(_dumps(value).encode("utf-8"), 6)


def _unpack(blob: bytes) -> Any:
    try:
        return json.loads(zlib.decompress(blob))
    except (zlib.error, ValueError) as exc:
        raise BadInput(f"store: a stored value is corrupt ({exc})") from None
