"""The autoscaler's series in a perf report: plotted, tabled in Markdown, small in history."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from analysis import Histogram
from harness.perf.outcome import PerfOutcome, perf_report
from harness.perf.server_metrics import GAUGES, MAX_POINTS
from harness.report import ReportData, write_report
from harness.report.plots import panic_spans
from harness.store import RunRecord, open_store


def autoscaler_record(points: int = MAX_POINTS, step: float = 5.0) -> dict[str, Any]:
    """A series like `autoscaler_series` returns for a 10-minute run: a burst in the middle."""
    times = [round(i * step, 3) for i in range(points)]
    burst = range(points // 3, points // 2)
    stable = [round(0.5 + 3.0 * math.sin(i / 9) ** 2, 6) for i in range(points)]
    series = {
        "desired_pods": [[t, 4.0 if i in burst else 1.0] for i, t in enumerate(times)],
        "actual_pods": [[t, 1.0] for t in times],
        "panic_mode": [[t, 1.0 if i in burst else 0.0] for i, t in enumerate(times)],
        "stable_concurrency": [[t, v] for t, v in zip(times, stable, strict=True)],
        "panic_concurrency": [[t, v * 1.3] for t, v in zip(times, stable, strict=True)],
        "target_concurrency": [[t, 0.7] for t in times],
    }
    assert set(series) == set(GAUGES)
    return {
        "available": True,
        "schema": "legacy",
        "step_s": step,
        "series": series,
        "summary": {"min_desired_pods": 1.0, "max_desired_pods": 4.0, "panic_s": 40 * step},
    }


def outcome(started: float = 1_700_000_000.0) -> PerfOutcome:
    return PerfOutcome(
        arm="hello",
        profile="steady",
        started=started,
        finished=started + 600,
        duration_s=600.0,
        requests=30_000,
        errors=3,
        latency=Histogram.from_samples([5.0 + (i % 97) / 10 for i in range(30_000)]),
        server={
            "prometheus": "http://127.0.0.1:9090",
            "profile": "legacy",
            "revisions": {},
            "autoscaler": {"hello-v1": autoscaler_record()},
        },
    )


def run_record(run_id: str = "20260101-000000-abcd") -> RunRecord:
    return RunRecord(
        id=run_id,
        kind="perf",
        namespace="default",
        service="hello",
        revisions=("hello-v1",),
        label=None,
        started=1_700_000_000.0,
        finished=1_700_000_600.0,
        status="completed",
        spec={},
        original_traffic=None,
        summary=None,
    )


def test_panic_spans_join_consecutive_points_and_hold_the_last_one() -> None:
    points = [[0, 0], [2, 1], [4, 1], [6, 0], [8, 1]]
    assert panic_spans(points, 2.0) == [(2.0, 6.0), (8.0, 10.0)]
    assert panic_spans([], 1.0) == []


def test_perf_report_plots_pods_and_concurrency_with_panic_shaded(tmp_path: Path) -> None:
    data = perf_report(run_record(), outcome())
    assert set(data.autoscaler) == {"hello-v1"}
    paths = write_report(data, tmp_path)
    html = paths["html"].read_text()

    pods = re.search(r'<svg[^>]*data-plot="autoscaler-pods-hello-v1".*?</svg>', html, re.S)
    assert pods is not None
    assert 'data-series="desired pods"' in pods.group(0)
    assert 'data-series="actual pods"' in pods.group(0)
    assert pods.group(0).count('class="span"') == 1  # one burst of panic mode
    concurrency = re.search(
        r'<svg[^>]*data-plot="autoscaler-concurrency-hello-v1".*?</svg>', html, re.S
    )
    assert concurrency is not None
    assert 'data-series="stable window"' in concurrency.group(0)
    assert 'data-series="panic window"' in concurrency.group(0)
    assert "target 0.7 per pod" in concurrency.group(0)
    # The series survive report.json and come back for the index and later reads.
    again = ReportData.from_dict(__import__("json").loads(paths["json"].read_text()))
    assert again.autoscaler["hello-v1"]["series"]["desired_pods"][0] == [0.0, 1.0]

    summary = paths["markdown"].read_text()
    assert "| revision | desired pods | actual pods |" in summary
    assert "| hello-v1 | 1-4 | 1 | 3.5 | 0.7 | 100s |" in summary


def test_a_report_without_autoscaler_series_has_no_autoscaler_plot(tmp_path: Path) -> None:
    quiet = outcome()
    assert quiet.server is not None
    quiet.server["autoscaler"] = {"hello-v1": {"available": False, "reason": "none"}}
    html = write_report(perf_report(run_record(), quiet), tmp_path)["html"].read_text()
    assert "autoscaler-pods" not in html and "autoscaler-concurrency" not in html


def test_history_keeps_a_run_with_full_autoscaler_series_under_50_kb(tmp_path: Path) -> None:
    """Six 120-point series per run, 20 runs: the store grows well under 50 KB per run."""
    store = open_store(str(tmp_path / "history.sqlite"))
    try:
        empty = (tmp_path / "history.sqlite").stat().st_size
        for index in range(20):
            run = store.create_run(
                "perf", "default", "hello", revisions=("hello-v1",), started=1e9 + index
            )
            store.save_perf_result(run.id, outcome().perf_result())
            store.finish_run(run.id, "completed", summary={"decision": "completed"})
    finally:
        store.close()
    files = [tmp_path / "history.sqlite", tmp_path / "history.sqlite-wal"]
    grown = sum(f.stat().st_size for f in files if f.exists()) - empty
    assert grown / 20 < 50_000, grown / 20
