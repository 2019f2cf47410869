"""Round trips and ordering of the SQLite run journal and perf history."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.store import (
    PerfResult,
    RunKind,
    SqliteStore,
    default_store_path,
    is_run_id,
    open_store,
)

HIST = {"layout": "fine", "index": [300, 301, 420], "counts": [5, 9, 1], "sum": 91.5}
TRAFFIC: list[dict[str, object]] = [
    {"revisionName": "hello-v1", "percent": 100},
    {"latestRevision": False, "percent": 0},
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    with SqliteStore(tmp_path / "history.sqlite") as opened:
        yield opened


def test_canary_run_round_trips_every_field(store: SqliteStore) -> None:
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


def test_looks_and_actions_keep_their_order_and_content(store: SqliteStore) -> None:
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


def test_an_action_completes_only_once(store: SqliteStore) -> None:
    run = store.create_run("canary", "default", "hello")
    action = store.begin_action(run.id, "promote", {})
    store.complete_action(run.id, action.seq)
    with pytest.raises(BadInput, match="already completed"):
        store.complete_action(run.id, action.seq)
    with pytest.raises(BadInput, match="no action 9"):
        store.complete_action(run.id, 9)


def test_a_finished_run_is_never_rewritten(store: SqliteStore) -> None:
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


def test_bad_arguments_are_bad_input(store: SqliteStore) -> None:
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


def test_last_run_and_list_runs_filter_and_sort_newest_first(store: SqliteStore) -> None:
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


def test_perf_results_round_trip_and_refuse_duplicates(store: SqliteStore) -> None:
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


def test_perf_trend_holds_completed_runs_oldest_first(store: SqliteStore) -> None:
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


def test_reopening_sees_everything_written(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with SqliteStore(path) as first:
        run = first.create_run("canary", "default", "hello")
        first.record_look(run.id, step=1, percent=5, arms={}, verdict={"decision": "continue"})
    with SqliteStore(path) as second:
        assert second.get_run(run.id).id == run.id
        assert second.looks(run.id)[0].percent == 5


def test_threads_share_one_store(store: SqliteStore) -> None:
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
