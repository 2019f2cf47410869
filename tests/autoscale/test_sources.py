"""Traces and pod start times from the history store (a SQLite file, no process)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.autoscale.sources import cold_start_seconds, load_trace, perf_trace
from harness.errors import BadInput
from harness.store import PerfResult, open_store


def saved_run(path: Path, profile: str, summary_extra: dict[str, object], p50_ms: float) -> str:
    store = open_store(path)
    try:
        run = store.create_run("perf", "default", "hello", revisions=("hello-v1",))
        store.save_perf_result(
            run.id,
            PerfResult(
                arm="hello",
                requests=100,
                errors=0,
                duration_s=10.0,
                latency={},
                stats={"p50_ms": p50_ms},
            ),
        )
        store.finish_run(
            run.id,
            "completed",
            summary={"decision": "completed", "profile": profile, "arm": "hello", **summary_extra},
        )
        return run.id
    finally:
        store.close()


def test_perf_trace_reads_the_stored_load_series(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    series = {
        "rps": [10.0, 20.0, 30.0],
        "concurrency": [1.0, 2.0, 3.0],
        "mean_latency_s": 0.1,
        "start_time": 1_700_000_000.0,
    }
    run_id = saved_run(path, "steady", {"load_series": series}, 100.0)
    trace = perf_trace(run_id, str(path))
    assert (trace.kind, list(trace.values), trace.service_time_s) == (
        "concurrency",
        [1.0, 2.0, 3.0],
        0.1,
    )
    assert trace.start_time == 1_700_000_000.0
    rps = load_trace(f"perf:{run_id}?metric=rps", store=str(path))
    assert rps.kind == "rps" and list(rps.values) == [10.0, 20.0, 30.0]
    old = saved_run(path, "steady", {}, 100.0)  # a run from before load series
    with pytest.raises(BadInput, match="no per-second load series"):
        perf_trace(old, str(path))
    with pytest.raises(BadInput, match="unknown option"):
        perf_trace(f"{run_id}?since=1h", str(path))


def test_pod_start_from_a_cold_start_run(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    cold = saved_run(path, "cold-start", {}, 1850.0)
    assert cold_start_seconds(cold, str(path)) == pytest.approx(1.85)
    steady = saved_run(path, "steady", {}, 12.0)
    with pytest.raises(BadInput, match="not a cold-start run"):
        cold_start_seconds(steady, str(path))
    with pytest.raises(BadInput, match="not a run id"):
        cold_start_seconds("yesterday", str(path))
