"""Report data from what the store kept: a canary's journal, a perf run, the history.

Building a report from the journal (rather than from the controller's memory) means a
resumed, interrupted or long-finished run gets the same report. Conventions read here
(see docs/contracts.md): look ``arms`` hold `ArmSnapshot.to_dict()` per arm name (other
keys are ignored); ``verdict`` is `Verdict.to_dict()`; a ``set_traffic`` action's payload
holds the candidate's ``percent``; ``rollback`` means 0% and ``promote`` 100%; the run's
summary holds ``decision`` and ``explanation`` (a list of sentences, the reason first; or
one string of lines).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from analysis import MetricStatus
from harness.report.model import (
    ArmSummary,
    LookPoint,
    MetricRow,
    ReportData,
    RowStatus,
    TrafficPoint,
    TrendPoint,
)
from harness.store import (
    ActionKind,
    ActionRecord,
    HistoryPoint,
    JournalLook,
    PerfResult,
    RunRecord,
)

__all__ = [
    "look_point",
    "metric_results",
    "report_from_canary_journal",
    "report_from_perf_run",
    "run_explanation",
    "trend_from_history",
]

# The judge's metric states as report rows (a JUnit testcase's outcome).
_STATUS: dict[str, RowStatus] = {
    MetricStatus.REGRESSION: RowStatus.FAIL,
    MetricStatus.NON_INFERIOR: RowStatus.PASS,
    MetricStatus.INCONCLUSIVE: RowStatus.INCONCLUSIVE,
    MetricStatus.INSUFFICIENT_DATA: RowStatus.INCONCLUSIVE,
}
_ACTION_PERCENT: dict[str, int] = {ActionKind.ROLLBACK: 0, ActionKind.PROMOTE: 100}


def look_point(look: JournalLook, started: float) -> LookPoint:
    """One journal look as the report draws it (time relative to ``started``)."""
    verdict = dict(look.verdict)
    metrics = [m for m in verdict.get("metrics", []) if isinstance(m, Mapping)]
    thresholds = [m["threshold"] for m in metrics if m.get("threshold") is not None]
    return LookPoint(
        seq=look.seq,
        t=look.t - started,
        step=look.step,
        percent=look.percent,
        decision=str(verdict.get("decision", "")),
        arms={
            name: ArmSummary.from_snapshot(snapshot)
            for name, snapshot in look.arms.items()
            if _is_snapshot(snapshot)
        },
        e_values={
            _metric_name(m["name"]): float(m["e_value"])
            for m in metrics
            if m.get("e_value") is not None
        },
        threshold=max(thresholds) if thresholds else None,
        verdict=verdict,
    )


def metric_results(verdict: Mapping[str, Any]) -> list[MetricRow]:
    """One result per metric of a `Verdict.to_dict()`: regression fails, non-inferior passes."""
    results = []
    for metric in verdict.get("metrics", []):
        values = {
            key: metric.get(key)
            for key in ("estimate", "lower", "upper", "margin", "max_e_value", "threshold")
        }
        results.append(
            MetricRow(
                name=_metric_name(metric["name"]),
                status=_STATUS.get(str(metric.get("status")), RowStatus.INCONCLUSIVE),
                message=str(metric.get("explanation") or metric.get("status")),
                values=values,
            )
        )
    return results


def run_explanation(summary: Mapping[str, Any]) -> list[str]:
    """The sentences of a run's summary: its ``explanation``, a list (the reason first) or
    one string of lines. Canary runs journaled before the summary had one reason field
    kept it in ``reason`` (a rollback by `harness rollback` only there): read as a fallback."""
    explanation = summary.get("explanation") or summary.get("reason") or []
    if isinstance(explanation, str):
        return [line for line in explanation.splitlines() if line.strip()]
    return [str(sentence) for sentence in explanation]


def report_from_canary_journal(
    run: RunRecord, looks: Sequence[JournalLook], actions: Sequence[ActionRecord]
) -> ReportData:
    """The report of a canary from its run record, looks and actions (as the store returns)."""
    points = [look_point(look, run.started) for look in looks]
    last = looks[-1] if looks else None
    summary = run.summary or {}
    baseline, candidate = [*run.revisions, None, None][:2]
    return ReportData(
        run_id=run.id,
        kind=run.kind,
        namespace=run.namespace,
        service=run.service,
        status=run.status,
        decision=str(summary.get("decision") or run.status.replace("_", " ")),
        started=run.started,
        finished=run.finished,
        baseline=baseline,
        candidate=candidate,
        label=run.label,
        explanation=run_explanation(summary),
        spec=dict(run.spec),
        looks=points,
        traffic=_traffic(run, actions),
        histograms={
            name: snapshot["latency"]
            for name, snapshot in (last.arms.items() if last else [])
            if _is_snapshot(snapshot) and snapshot.get("latency") is not None
        },
        metrics=metric_results(last.verdict) if last else [],
    )


def report_from_perf_run(
    run: RunRecord,
    results: Mapping[str, PerfResult],
    trend: Sequence[HistoryPoint] = (),
    metrics: Sequence[MetricRow] = (),
) -> ReportData:
    """The report of a perf run: per-arm latency distributions, a trend, optional checks."""
    summary = run.summary or {}
    return ReportData(
        run_id=run.id,
        kind=run.kind,
        namespace=run.namespace,
        service=run.service,
        status=run.status,
        decision=str(summary.get("decision") or run.status),
        started=run.started,
        finished=run.finished,
        candidate=run.revisions[0] if run.revisions else None,
        label=run.label,
        explanation=run_explanation(summary),
        spec=dict(run.spec),
        histograms={arm: result.latency for arm, result in results.items()},
        metrics=list(metrics),
        trend=trend_from_history(trend),
        autoscaler=autoscaler_series(results),
    )


def autoscaler_series(results: Mapping[str, PerfResult]) -> dict[str, dict[str, Any]]:
    """The autoscaler series each revision had during the run, from the results' server
    records (only revisions whose series were available)."""
    found: dict[str, dict[str, Any]] = {}
    for result in results.values():
        for revision, record in ((result.server or {}).get("autoscaler") or {}).items():
            if isinstance(record, dict) and record.get("available") and record.get("series"):
                found[revision] = {
                    "schema": record.get("schema"),
                    "step_s": record.get("step_s"),
                    "series": record["series"],
                }
    return found


def trend_from_history(points: Sequence[HistoryPoint]) -> list[TrendPoint]:
    """Report trend points from `Store.perf_trend`, adding ``error_rate`` and ``rps``
    when the run did not save them itself."""
    trend = []
    for point in points:
        values = dict(point.stats)
        if "error_rate" not in values and point.requests:
            values["error_rate"] = point.errors / point.requests
        if "rps" not in values and point.duration_s > 0:
            values["rps"] = point.requests / point.duration_s
        trend.append(TrendPoint(point.run_id, point.started, values, point.label))
    return trend


def _traffic(run: RunRecord, actions: Sequence[ActionRecord]) -> list[TrafficPoint]:
    points = []
    for action in actions:
        if not action.done:
            continue
        percent = action.payload.get("percent", _ACTION_PERCENT.get(action.kind))
        if isinstance(percent, int | float) and not isinstance(percent, bool):
            when = action.done_t if action.done_t is not None else action.t
            points.append(TrafficPoint(when - run.started, int(percent)))
    return points


def _is_snapshot(value: object) -> bool:
    return isinstance(value, Mapping) and "requests" in value and "errors" in value


def _metric_name(name: object) -> str:
    """``latency_median`` -> ``latency median``: one spelling in plots, tables and JUnit."""
    return str(name).replace("_", " ")
