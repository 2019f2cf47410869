"""Which run `harness rollback` restores from: pure logic over a real store file."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.canary.chain import rollback_chain
from harness.store import SqliteStore

BLOCK_A = [{"revisionName": "hello-v1", "percent": 100}]
BLOCK_B = [{"revisionName": "hello-v1", "percent": 90}, {"revisionName": "hello-v2", "percent": 10}]


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "h.sqlite")


def _run(
    store: SqliteStore, started: float, original: list[dict[str, object]], *actions: str
) -> str:
    run = store.create_run("canary", "default", "hello", original_traffic=original, started=started)
    for kind in actions:
        action = store.begin_action(run.id, kind, {"percent": 10})
        store.complete_action(run.id, action.seq)
    return run.id


def test_no_run_that_changed_traffic_means_nothing_to_restore(store: SqliteStore) -> None:
    _run(store, 1.0, BLOCK_A)
    assert rollback_chain(store, "default", "hello") is None


def test_a_run_that_changed_nothing_is_never_restored_from(store: SqliteStore) -> None:
    crashed = _run(store, 1.0, BLOCK_A, "set_traffic")  # killed: still running
    rejected = _run(store, 2.0, BLOCK_B)  # wrote its record, changed nothing
    store.finish_run(rejected, "aborted")
    chain = rollback_chain(store, "default", "hello")
    assert chain is not None
    assert chain.first.id == crashed


def test_runs_that_left_traffic_changed_chain_back_to_the_first(store: SqliteStore) -> None:
    clean = _run(store, 1.0, BLOCK_A, "set_traffic", "rollback")
    store.finish_run(clean, "rolled_back")
    first = _run(store, 2.0, BLOCK_A, "set_traffic")  # killed
    held = _run(store, 3.0, BLOCK_B, "set_traffic")
    store.finish_run(held, "held")
    newest = _run(store, 4.0, BLOCK_B, "set_traffic")  # killed
    chain = rollback_chain(store, "default", "hello")
    assert chain is not None
    assert [r.id for r in chain.runs] == [newest, held, first]
    assert chain.first.original_traffic == BLOCK_A


def test_a_restored_or_promoted_run_ends_the_chain(store: SqliteStore) -> None:
    promoted = _run(store, 1.0, BLOCK_A, "set_traffic", "promote")
    store.finish_run(promoted, "promoted")
    newest = _run(store, 2.0, BLOCK_B, "set_traffic")
    chain = rollback_chain(store, "default", "hello")
    assert chain is not None
    assert [r.id for r in chain.runs] == [newest]


def test_a_failed_restore_keeps_the_run_in_the_chain(store: SqliteStore) -> None:
    first = _run(store, 1.0, BLOCK_A, "set_traffic")
    store.begin_action(first, "rollback", {})  # begun, never completed: the cluster failed
    store.finish_run(first, "aborted")
    newest = _run(store, 2.0, BLOCK_B, "set_traffic")
    chain = rollback_chain(store, "default", "hello")
    assert chain is not None
    assert [r.id for r in chain.runs] == [newest, first]
