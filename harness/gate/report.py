"""How a gate reads: a report row per metric, the report, the ``--format json`` document.

Built from a `harness.gate.outcome.GateOutcome` and the analysis module's metric results; the
report itself is written by the shared report module (one template family with the
canary and perf runs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.gate.outcome import metric_name
from harness.statuses import GateVerdict

if TYPE_CHECKING:
    from analysis.fixed import MetricResult
    from harness.gate.outcome import GateOutcome
    from harness.report import MetricRow, ReportData

__all__ = ["gate_document", "gate_report", "report_metric"]


def report_metric(metric: MetricResult) -> MetricRow:
    """One gate metric as a report row / JUnit testcase; its message names the metric."""
    from analysis.fixed import GateStatus
    from harness.report import MetricRow, RowStatus

    name = metric_name(metric.name)
    status = {GateStatus.PASS: RowStatus.PASS, GateStatus.FAIL: RowStatus.FAIL}.get(
        metric.status, RowStatus.INCONCLUSIVE
    )
    if metric.name == "error_rate":
        unit = "%"
        reference, candidate = 100 * metric.reference, 100 * metric.candidate
        change = f"{100 * metric.estimate:+.3g} points"
        limit = f"+{100 * metric.tolerance:.3g} points"
        ci = _interval(100 * metric.ci_low, 100 * metric.ci_high, " points")
        shown = f"{candidate:.3g}% vs {reference:.3g}%"
    else:
        unit = "ms"
        reference, candidate = metric.reference, metric.candidate
        change = f"{100 * (metric.estimate - 1):+.3g}%" if math.isfinite(metric.estimate) else "n/a"
        limit = f"+{100 * metric.tolerance:.3g}%"
        ci = _interval(metric.ci_low, metric.ci_high, "x")
        shown = f"{candidate:.4g} ms vs {reference:.4g} ms ({change})"
    if status is RowStatus.FAIL:
        message = f"{name} regressed: {shown}, tolerated {limit}"
    elif status is RowStatus.PASS:
        message = f"{name} within tolerance: {shown}, tolerated {limit}"
    else:
        reason = metric.explanation.split(": ", 1)[-1].rstrip(".")
        message = f"{name} not judged: {reason}"
    values: dict[str, float | int | str | None] = {
        "reference": _finite(reference),
        "candidate": _finite(candidate),
        "change": change if status is not RowStatus.INCONCLUSIVE else None,
        "limit": limit,
        "ci": ci if status is not RowStatus.INCONCLUSIVE else None,
        "p_value": _finite(metric.p_value),
        "p_adjusted": f"{metric.p_adjusted:.3g}" if math.isfinite(metric.p_adjusted) else None,
    }
    return MetricRow(name=name, status=status, message=message, values=values, unit=unit)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _interval(low: float, high: float, unit: str) -> str | None:
    if not (math.isfinite(low) or math.isfinite(high)):
        return None

    def show(v: float) -> str:
        return f"{v:.3g}" if math.isfinite(v) else ("∞" if v > 0 else "-∞")

    return f"[{show(low)}, {show(high)}]{unit}"


def gate_report(outcome: GateOutcome, trend: Sequence[Any] = ()) -> ReportData:
    """The gate's `ReportData`: a row per metric, both latency distributions, the trend."""
    from harness.report import ReportData, RowStatus, trend_from_history

    refs = outcome.references
    baseline = refs[0].id if len(refs) == 1 else f"last {len(refs)} runs"
    # The gate's verdict as the report's decision word.
    decision = {
        GateVerdict.PASSED: RowStatus.PASS,
        GateVerdict.REGRESSION: RowStatus.FAIL,
        GateVerdict.INCONCLUSIVE: RowStatus.INCONCLUSIVE,
    }[outcome.status]
    histograms = {}
    for name, arm in (("reference", outcome.reference_arm), ("candidate", outcome.candidate_arm)):
        if arm.latency is not None:
            histograms[name] = arm.latency.to_dict()
    return ReportData(
        run_id=outcome.gate_id,
        kind="gate",
        namespace=outcome.namespace,
        service=outcome.service,
        status=outcome.status,
        decision=decision,
        started=outcome.started,
        finished=outcome.finished,
        baseline=baseline,
        candidate=outcome.candidate.id,
        label=outcome.candidate.label,
        explanation=outcome.explanation(),
        spec=_gate_spec(outcome),
        histograms=histograms,
        metrics=[report_metric(m) for m in outcome.metrics],
        trend=trend_from_history(trend),
    )


def _gate_spec(outcome: GateOutcome) -> dict[str, Any]:
    tol = outcome.tolerances
    return {
        "against": outcome.against,
        "arm": outcome.arm,
        "profile": outcome.profile,
        "candidate_run": outcome.candidate.id,
        "reference_runs": [run.id for run in outcome.references],
        "tolerances": {
            "error_rate": tol.error_rate,
            **{f"p{round(100 * q)}": allowed for q, allowed in tol.quantiles},
            "alpha": tol.alpha,
            "min_requests": tol.min_requests,
        },
    }


def gate_document(outcome: GateOutcome, report: dict[str, Path]) -> dict[str, Any]:
    """The ``--format json`` summary of a gate (one JSON document)."""
    return {
        "gate_id": outcome.gate_id,
        "status": outcome.status,
        "exit_code": outcome.exit_code,
        "namespace": outcome.namespace,
        "service": outcome.service,
        **_gate_spec(outcome),
        "candidate": {
            "run_id": outcome.candidate.id,
            "label": outcome.candidate.label,
            "started": outcome.candidate.started,
            "requests": outcome.candidate_arm.requests,
            "errors": outcome.candidate_arm.errors,
        },
        "reference": {
            "run_ids": [run.id for run in outcome.references],
            "requests": outcome.reference_arm.requests,
            "errors": outcome.reference_arm.errors,
        },
        "metrics": [m.to_dict() for m in outcome.metrics],
        "explanation": outcome.explanation(),
        "report": {kind: str(path) for kind, path in report.items()},
    }
