"""Reports built from a real store's journal, with verdicts from the real judge."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analysis import ArmSnapshot, Histogram, JudgeConfig, SequentialJudge
from harness.report import (
    report_from_canary_journal,
    report_from_perf_run,
    trend_from_history,
    write_report,
)
from harness.report.journal import run_explanation
from harness.store import PerfResult, SqliteStore


def _journal(store: SqliteStore) -> str:
    """A canary whose candidate is 8% slower, judged look by look until rollback."""
    rng = np.random.default_rng(11)
    run = store.create_run(
        "canary",
        "default",
        "hello",
        revisions=("hello-v1", "hello-v2"),
        spec={"steps": [5, 50, 100]},
        original_traffic=[{"revisionName": "hello-v1", "percent": 100}],
        started=1000.0,
    )
    judge = SequentialJudge(JudgeConfig(alpha=0.05))
    arms = {"baseline": (0, Histogram.empty()), "canary": (0, Histogram.empty())}
    action = store.begin_action(run.id, "set_traffic", {"percent": 5}, t=1000.5)
    store.complete_action(run.id, action.seq, t=1001.0)
    decision = "continue"
    seq = 0
    while decision == "continue" and seq < 60:
        seq += 1
        snapshots = {}
        for name, median in (("baseline", 10.0), ("canary", 10.8)):
            requests, hist = arms[name]
            hist.record_many(rng.lognormal(np.log(median), 0.4, 100))
            arms[name] = (requests + 100, hist)
            snapshots[name] = ArmSnapshot(requests + 100, 0, hist.copy())
        verdict = judge.update(baseline=snapshots["baseline"], canary=snapshots["canary"])
        store.record_look(
            run.id,
            step=0,
            percent=5,
            arms={name: snap.to_dict() for name, snap in snapshots.items()}
            | {"server": {"note": "ignored by the report"}},
            verdict=verdict.to_dict(),
            t=1000.0 + 5 * seq,
        )
        decision = verdict.decision.value
    rollback = store.begin_action(run.id, "rollback", {"to": "hello-v1"}, t=1000.0 + 5 * seq)
    store.complete_action(run.id, rollback.seq, t=1001.0 + 5 * seq)
    store.finish_run(
        run.id,
        "rolled_back",
        summary={"decision": "rollback", "explanation": verdict.explain()},
        finished=1002.0 + 5 * seq,
    )
    return run.id


def test_a_canary_report_comes_from_the_journal_alone(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "h.sqlite") as store:
        run_id = _journal(store)
        data = report_from_canary_journal(
            store.get_run(run_id), store.looks(run_id), store.actions(run_id)
        )
    assert data.status == "rolled_back" and data.decision == "rollback"
    assert (data.baseline, data.candidate) == ("hello-v1", "hello-v2")
    assert data.looks and data.looks[-1].decision == "rollback"
    assert set(data.looks[-1].arms) == {"baseline", "canary"}
    assert data.looks[0].t == 5.0 and data.looks[-1].threshold is not None
    assert any(e >= data.looks[-1].threshold for e in data.looks[-1].e_values.values())
    assert [(p.t, p.percent) for p in data.traffic] == [(1.0, 5), (data.traffic[-1].t, 0)]
    assert set(data.histograms) == {"baseline", "canary"}
    assert any(m.status == "fail" for m in data.metrics)
    assert data.explanation and data.explanation[0]

    paths = write_report(data, tmp_path / "report")
    failures = ET.parse(paths["junit"]).getroot().findall(".//failure")
    assert failures and all(f.get("message") for f in failures)
    html = paths["html"].read_text()
    for plot in ("traffic", "evalues", "error-rate", "latency-looks", "latency-cdf"):
        assert f'data-plot="{plot}"' in html


def test_a_perf_report_has_its_histograms_and_trend(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    with SqliteStore(tmp_path / "h.sqlite") as store:
        for n in range(6):
            run = store.create_run("perf", "default", "hello", started=100.0 * n, label=f"r{n}")
            hist = Histogram.from_samples(rng.lognormal(np.log(5 + n), 0.3, 2000))
            store.save_perf_result(
                run.id,
                PerfResult(
                    "default", 2000, n, 20.0, hist.to_dict(), {"p99_ms": hist.quantile(0.99)}
                ),
            )
            store.finish_run(run.id, "completed", finished=100.0 * n + 20)
        trend = store.perf_trend("default", "hello")
        data = report_from_perf_run(store.get_run(run.id), store.load_perf_results(run.id), trend)
    assert data.kind == "perf" and data.label == "r5" and data.status == "completed"
    assert [p.label for p in data.trend] == ["r0", "r1", "r2", "r3", "r4", "r5"]
    assert data.trend[2].values["error_rate"] == 2 / 2000 and data.trend[2].values["rps"] == 100
    html = write_report(data, tmp_path / "perf")["html"].read_text()
    for plot in ("latency-cdf", "trend-latency", "trend-error-rate", "trend-rps"):
        assert f'data-plot="{plot}"' in html


def test_trend_keeps_what_the_run_saved() -> None:
    from harness.store import HistoryPoint

    point = HistoryPoint("20260101-000000-aaaa", 1.0, None, "a", 10, 5, 0.0, {"error_rate": 0.2})
    (converted,) = trend_from_history([point])
    assert converted.values == {"error_rate": 0.2}


@pytest.mark.parametrize(
    ("summary", "sentences"),
    [
        ({"explanation": ["a metric regressed", "p99 +40%"]}, ["a metric regressed", "p99 +40%"]),
        ({"explanation": "one\n\ntwo\n"}, ["one", "two"]),
        # A rollback by `harness rollback` journaled before the summary had one shape.
        ({"reason": "rolled back by `harness rollback`"}, ["rolled back by `harness rollback`"]),
        ({}, []),
    ],
)
def test_a_run_summary_has_one_reason_field(summary: dict[str, Any], sentences: list[str]) -> None:
    assert run_explanation(summary) == sentences
