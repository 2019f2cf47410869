"""`harness store migrate --from A --to B`: copy every run, its journal and its perf
results from one store to another (SQLite file or PostgreSQL), unchanged.

Runs already in the target (same id) are skipped, so a migration can be run again after
an interruption or to pick up runs written since. Each run is copied in one transaction
(`Store.import_run`), with its id, times, status, looks, actions and results kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import BadInput
from harness.store.contract import Store
from harness.store.opening import open_store, store_path

__all__ = ["Migration", "migrate_store", "open_existing"]

_ALL = 2**62


@dataclass(frozen=True)
class Migration:
    copied: int
    skipped: int
    source: str
    target: str


def open_existing(location: str) -> Store:
    """A store that must exist already (a missing SQLite file is not created)."""
    path = store_path(location)
    if path is not None and not path.expanduser().exists():
        raise BadInput(f"--from {location}: no such store")
    return open_store(location)


def migrate_store(source: str, target: str, say: Callable[[str], None] = print) -> Migration:
    """Copy every run of ``source`` into ``target``, oldest first."""
    src_path, dst_path = store_path(source), store_path(target)
    if str(source) == str(target) or (
        src_path is not None and dst_path is not None and _same(src_path, dst_path)
    ):
        raise BadInput("--from and --to name the same store")
    src = open_existing(source)
    try:
        dst = open_store(target)
        try:
            copied = skipped = 0
            for run in reversed(src.list_runs(limit=_ALL)):
                looks = src.looks(run.id)
                actions = src.actions(run.id)
                perf = src.load_perf_results(run.id) if run.kind == "perf" else {}
                done = dst.import_run(run, looks, actions, perf)
                copied += done
                skipped += not done
            result = Migration(copied, skipped, src.location, dst.location)
        finally:
            dst.close()
    finally:
        src.close()
    say(
        f"copied {result.copied} runs from {result.source} to {result.target}"
        + (f" ({result.skipped} already there, left as they were)" if result.skipped else "")
    )
    return result


def _same(a: Path, b: Path) -> bool:
    try:
        return a.expanduser().resolve() == b.expanduser().resolve()
    except OSError:
        return False
