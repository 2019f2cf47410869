"""The run journal and perf history: `Store`, on SQLite or PostgreSQL.

One store holds every run (canary and perf) with its spec, the looks and actions of a
canary, and the results of perf runs (counts and latency histograms, never raw
samples). Callers depend on the `Store` protocol and get an instance from `open_store`.

Modules: ``records`` (the records, statuses, ids, row encoding), ``contract`` (`Store`),
``sql`` (`SqlStore`: the semantics, written once, over a `Dialect`), ``sqlite`` and
``postgres`` (the dialects: connection, locking, schema and the check on open),
``opening`` (`open_store`), ``migrate`` (`harness store migrate`) and ``history`` (the
history queries of perf and gate).
"""

from harness.store.contract import Store
from harness.store.history import history_trend
from harness.store.opening import DEFAULT_STORE_FILE, default_store_path, open_store, store_path
from harness.store.postgres import PostgresStore
from harness.store.records import (
    ACTION_KINDS,
    FINAL_STATUSES,
    RUNNING,
    ActionKind,
    ActionRecord,
    HistoryPoint,
    JournalLook,
    PerfResult,
    RunKind,
    RunRecord,
    is_run_id,
    new_run_id,
)
from harness.store.sqlite import SqliteStore

__all__ = [
    "ACTION_KINDS",
    "DEFAULT_STORE_FILE",
    "FINAL_STATUSES",
    "RUNNING",
    "ActionKind",
    "ActionRecord",
    "HistoryPoint",
    "JournalLook",
    "PerfResult",
    "PostgresStore",
    "RunKind",
    "RunRecord",
    "SqliteStore",
    "Store",
    "default_store_path",
    "history_trend",
    "is_run_id",
    "new_run_id",
    "open_store",
    "store_path",
]
