"""The store contract, on both backends (tests/store/conftest.py: SQLite and a real
PostgreSQL): round trips, ordering, once-only writes, filters, trends, threads."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.store import (
    ActionRecord,
    JournalLook,
    PerfResult,
    RunKind,
    RunRecord,
    Store,
    default_store_path,
    is_run_id,
    open_store,
)

HIST = {"layout": "fine", "index": [300, 301, 420], "counts": [5, 9, 1], "sum": 91.5}
TRAFFIC: list[dict[str, object]] = [
    {"revisionName": "hello-v1", "percent": 100},
    {"latestRevision": False, "percent": 0},
]


def test_canary_run_round_trips_every_field(store: Store) -> None:
    run = store.create_run(
        "canary",
        "default",
        "hello",
        revisions=("hello-v1", "hello-v2"),
        label="release-7",
        spec={"steps": [1, 50, 100], "alpha": 0.05},
        original_traffic=TRAFFIC,
        started=1_790_000_000.5,
    )
    assert is_run_id(run.id) and run.id.startswith("20260921-")
    again = store.get_run(run.id)
    assert again == run
    assert again.revisions == ("hello-v1", "hello-v2")
    assert again.original_traffic == TRAFFIC
    assert again.spec == {"steps": [1, 50, 100], "alpha": 0.05}
    assert again.running and again.finished is None and again.summary is None


def test_looks_and_actions_keep_their_order_and_content(store: Store) -> None:
    run = store.create_run("canary", "default", "hello", revisions=("hello-v1", "hello-v2"))
    arms = {"baseline": {"requests": 10, "errors": 0, "latency": HIST}}
    first = store.begin_action(run.id, "set_traffic", {"percent": 1})
    store.complete_action(run.id, first.seq, result={"resourceVersion": "7"})
    for n in range(1, 6):
        store.record_look(run.id, step=0, percent=1, arms=arms, verdict={"n": n}, t=100.0 + n)
    second = store.begin_action(run.id, "rollback", {"to": "hello-v1"})

    looks = store.looks(run.id)
    assert [look.seq for look in looks] == [1, 2, 3, 4, 5]
    assert [look.verdict["n"] for look in looks] == [1, 2, 3, 4, 5]
    assert looks[0].arms == arms and looks[0].t == 101.0
    actions = store.actions(run.id)
    assert [(a.seq, a.kind, a.done) for a in actions] == [
        (1, "set_traffic", True),
        (2, "rollback", False),
    ]
    assert actions[0].result == {"resourceVersion": "7"} and actions[0].done_t is not None
    assert actions[1] == second


def test_an_action_completes_only_once(store: Store) -> None:
    run = store.create_run("canary", "default", "hello")
    action = store.begin_action(run.id, "promote", {})
    store.complete_action(run.id, action.seq)
    with pytest.raises(BadInput, match="already completed"):
        store.complete_action(run.id, action.seq)
    with pytest.raises(BadInput, match="no action 9"):
        store.complete_action(run.id, 9)


def test_a_finished_run_is_never_rewritten(store: Store) -> None:
    run = store.create_run("canary", "default", "hello")
    done = store.finish_run(run.id, "rolled_back", summary={"reason": "p99"}, finished=5.0)
    assert (done.status, done.finished, done.summary) == ("rolled_back", 5.0, {"reason": "p99"})
    with pytest.raises(BadInput, match="already finished"):
        store.finish_run(run.id, "promoted")
    with pytest.raises(BadInput, match="already finished"):
        store.record_look(run.id, step=0, percent=1, arms={}, verdict={})
    with pytest.raises(BadInput, match="already finished"):
        store.begin_action(run.id, "set_traffic", {"percent": 5})
    assert store.get_run(run.id) == done


def test_bad_arguments_are_bad_input(store: Store) -> None:
    run = store.create_run("perf", "default", "hello")
    with pytest.raises(BadInput, match="not a run id"):
        store.get_run("../../etc/passwd")
    with pytest.raises(BadInput, match="no run 20200101-000000-abcd"):
        store.looks("20200101-000000-abcd")
    with pytest.raises(BadInput, match="final status"):
        store.finish_run(run.id, "running")
    with pytest.raises(BadInput, match="run kind"):
        store.create_run("gate", "default", "hello")  # type: ignore[arg-type]
    with pytest.raises(BadInput, match="lower_snake_case"):
        store.begin_action(run.id, "DROP TABLE", {})
    with pytest.raises(BadInput, match="not plain JSON"):
        store.record_look(run.id, step=0, percent=1, arms={"a": object()}, verdict={})


def test_last_run_and_list_runs_filter_and_sort_newest_first(store: Store) -> None:
    ids = {}
    runs: list[tuple[float, RunKind, str, str | None]] = [
        (100.0, "canary", "hello", None),
        (300.0, "perf", "hello", "nightly"),
        (200.0, "perf", "hello", "release"),
        (400.0, "canary", "other", None),
    ]
    for started, kind, service, label in runs:
        ids[started] = store.create_run(kind, "default", service, label=label, started=started).id
    last, last_canary = (
        store.last_run("default", "hello"),
        store.last_run("default", "hello", "canary"),
    )
    assert last is not None and last.id == ids[300.0]
    assert last_canary is not None and last_canary.id == ids[100.0]
    assert store.last_run("prod", "hello") is None
    assert [r.id for r in store.list_runs("default", "hello", "perf")] == [ids[300.0], ids[200.0]]
    assert [r.id for r in store.list_runs(label="release")] == [ids[200.0]]
    assert len(store.list_runs(limit=3)) == 3
    assert [r.id for r in store.list_runs(status="running", limit=1)] == [ids[400.0]]


def test_perf_results_round_trip_and_refuse_duplicates(store: Store) -> None:
    run = store.create_run("perf", "default", "hello", label="v2")
    result = PerfResult(
        arm="default",
        requests=1000,
        errors=3,
        duration_s=60.0,
        latency=HIST,
        stats={"p50_ms": 4.5, "p99_ms": 19.0},
        server={"requests": [[0, 10], [10, 20]]},
    )
    store.save_perf_result(run.id, result)
    assert store.load_perf_results(run.id) == {"default": result}
    with pytest.raises(BadInput, match="already has a result"):
        store.save_perf_result(run.id, result)
    canary = store.create_run("canary", "default", "hello")
    with pytest.raises(BadInput, match="not a perf run"):
        store.save_perf_result(canary.id, result)


def test_perf_trend_holds_completed_runs_oldest_first(store: Store) -> None:
    for n in range(5):
        run = store.create_run("perf", "default", "hello", started=1000.0 + n, label="nightly")
        store.save_perf_result(
            run.id, PerfResult("default", 100 + n, n, 30.0, HIST, stats={"p99_ms": 10.0 + n})
        )
        if n != 3:
            store.finish_run(run.id, "completed")
    store.create_run("perf", "default", "other", started=2000.0)
    trend = store.perf_trend("default", "hello", limit=3)
    assert [point.stats["p99_ms"] for point in trend] == [11.0, 12.0, 14.0]
    assert [point.requests for point in trend] == [101, 102, 104]
    assert trend[0].label == "nightly" and trend[0].arm == "default"
    assert store.perf_trend("default", "hello", label="other") == []
    assert len(store.perf_trend("default", "hello", arm="default")) == 4


def test_reopening_sees_everything_written(reopen: Callable[[], Store]) -> None:
    first = reopen()
    try:
        run = first.create_run("canary", "default", "hello", label="v1")
        first.record_look(run.id, step=1, percent=5, arms={}, verdict={"decision": "continue"})
    finally:
        first.close()
    second = reopen()
    try:
        assert second.get_run(run.id) == run
        assert second.looks(run.id)[0].percent == 5
    finally:
        second.close()


def test_threads_share_one_store(store: Store) -> None:
    run = store.create_run("canary", "default", "hello")

    def write_looks() -> None:
        for _ in range(25):
            store.record_look(run.id, step=0, percent=1, arms={}, verdict={})

    threads = [threading.Thread(target=write_looks) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [look.seq for look in store.looks(run.id)] == list(range(1, 101))


def test_open_store_resolves_default_path_and_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))
    assert default_store_path() == tmp_path / "state" / "history.sqlite"
    default = open_store()
    default.close()
    assert (tmp_path / "state" / "history.sqlite").is_file()
    explicit = open_store(f"sqlite://{tmp_path}/other.sqlite")
    assert explicit.location == str(tmp_path / "other.sqlite")
    explicit.close()
    with pytest.raises(BadInput, match="unsupported scheme"):
        open_store("mysql://db/history")
    with pytest.raises(BadInput, match="does not exist"):
        open_store(tmp_path / "missing" / "h.sqlite")


def test_import_run_copies_a_run_unchanged_and_only_once(store: Store) -> None:
    run = RunRecord(
        id="20240101-120000-beef",
        kind="canary",
        namespace="default",
        service="hello",
        revisions=("hello-v1", "hello-v2"),
        label="release-7",
        started=1_704_110_400.0,
        finished=1_704_110_460.0,
        status="rolled_back",
        spec={"steps": [5, 100]},
        original_traffic=TRAFFIC,
        summary={"reason": "errors"},
    )
    looks = [JournalLook(run.id, 1, 1.5, 0, 5, {"a": [1, 2]}, {"d": "go"})]
    actions = [
        ActionRecord(run.id, 1, 2.0, "set_traffic", {"percent": 5}, True, 2.5, {"ok": True}),
        ActionRecord(run.id, 2, 3.0, "rollback", {}, False, None, None),
    ]
    assert store.import_run(run, looks, actions, {}) is True
    assert store.get_run(run.id) == run
    assert store.looks(run.id) == looks and store.actions(run.id) == actions
    other = RunRecord(**{**vars(run), "label": "changed"})
    assert store.import_run(other, [], [], {}) is False
    assert store.get_run(run.id) == run and store.looks(run.id) == looks
    perf = RunRecord(**{**vars(run), "id": "20240101-120100-cafe", "kind": "perf"})
    result = PerfResult("default", 10, 1, 5.0, HIST, {"p99_ms": 3.0}, None)
    assert store.import_run(perf, [], [], {"default": result})
    assert store.load_perf_results(perf.id) == {"default": result}
    with pytest.raises(BadInput, match="not a run id"):
        store.import_run(RunRecord(**{**vars(run), "id": "x; DROP"}), [], [], {})


_WRITER = """
import sys
from harness.store import open_store
location, run_id, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = open_store(location)
for i in range(n):
    store.record_look(run_id, step=0, percent=i, arms={"i": i}, verdict={})
    action = store.begin_action(run_id, "set_traffic", {"i": i})
    store.complete_action(run_id, action.seq)
    store.create_run("perf", "default", "hello", label="job")
store.close()
"""

_READER = """
import sys
from harness.store import open_store
location, run_id = sys.argv[1], sys.argv[2]
store = open_store(location)
for _ in range(200):
    seqs = [look.seq for look in store.looks(run_id)]
    assert seqs == list(range(1, len(seqs) + 1)), seqs
    store.list_runs("default", "hello", limit=1000)
store.close()
print("ok")
"""


@pytest.mark.slow
def test_processes_writing_and_reading_at_once(location: str, store: Store) -> None:
    run = store.create_run("canary", "default", "hello")
    # Three writers race on the same run's sequence numbers while a fourth process reads.
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, location, run.id, "40"]) for _ in range(3)
    ]
    reader = subprocess.Popen(
        [sys.executable, "-c", _READER, location, run.id], stdout=subprocess.PIPE, text=True
    )
    assert [w.wait(timeout=180) for w in writers] == [0, 0, 0]
    out, _ = reader.communicate(timeout=180)
    assert reader.returncode == 0 and out.strip() == "ok"
    assert [look.seq for look in store.looks(run.id)] == list(range(1, 121))
    actions = store.actions(run.id)
    assert [a.seq for a in actions] == list(range(1, 121)) and all(a.done for a in actions)
    assert len(store.list_runs(kind="perf", limit=1000)) == 120
