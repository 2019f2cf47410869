"""`harness store migrate --from A --to B`: copy every run, its journal and its perf
results from one store to another (SQLite file or PostgreSQL), unchanged.

Runs already in the target (same id) are skipped, so a migration can be run again after
an interruption or to pick up runs written since. Into PostgreSQL each run is copied in
one transaction (`PostgresStore.import_run`); into SQLite through the `Store` interface,
with a run's id, times, looks, actions and results kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from harness.errors import BadInput
from harness.store import (
    ActionRecord,
    JournalLook,
    PerfResult,
    RunKind,
    RunRecord,
    Store,
    open_store,
    store_path,
)

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
                importer = getattr(dst, "import_run", None)
                if importer is not None:
                    done = bool(importer(run, looks, actions, perf))
                else:
                    done = _copy(dst, run, looks, actions, perf)
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


def _copy(
    dst: Store,
    run: RunRecord,
    looks: Sequence[JournalLook],
    actions: Sequence[ActionRecord],
    perf: Mapping[str, PerfResult],
) -> bool:
    try:
        dst.get_run(run.id)
        return False
    except BadInput:
        pass
    dst.create_run(
        cast(RunKind, run.kind),
        run.namespace,
        run.service,
        revisions=run.revisions,
        label=run.label,
        spec=run.spec,
        original_traffic=run.original_traffic,
        started=run.started,
        run_id=run.id,
    )
    for look in looks:
        dst.record_look(
            run.id,
            step=look.step,
            percent=look.percent,
            arms=look.arms,
            verdict=look.verdict,
            t=look.t,
        )
    for action in actions:
        dst.begin_action(run.id, action.kind, action.payload, t=action.t)
        if action.done:
            dst.complete_action(run.id, action.seq, result=action.result, t=action.done_t)
    for result in perf.values():
        dst.save_perf_result(run.id, result)
    if not run.running:
        dst.finish_run(run.id, run.status, summary=run.summary, finished=run.finished)
    return True
