"""Realistic report data for the report tests: a rolled-back canary and a gate with a trend."""

from __future__ import annotations

import numpy as np

from analysis import Histogram
from harness.report import (
    ArmSummary,
    LookPoint,
    MetricRow,
    ReportData,
    RowStatus,
    TrafficPoint,
    TrendPoint,
)

STARTED = 1_790_000_000.0


def canary_report(service: str = "hello", message_suffix: str = "") -> ReportData:
    """A canary rolled back at its 4th step for a p99 regression, with 24 looks."""
    rng = np.random.default_rng(7)
    baseline = Histogram.empty()
    candidate = Histogram.empty()
    looks = []
    steps = [1, 5, 10, 25, 50, 100]
    for seq in range(1, 25):
        baseline.record_many(rng.lognormal(np.log(5.0), 0.3, 200))
        candidate.record_many(rng.lognormal(np.log(5.5), 0.45, 200))
        step = min((seq - 1) // 6, 3)
        looks.append(
            LookPoint(
                seq=seq,
                t=5.0 * seq,
                step=step,
                percent=steps[step],
                decision="continue" if seq < 24 else "rollback",
                arms={
                    "baseline": ArmSummary(
                        200 * seq, seq // 6, baseline.quantile(0.5), baseline.quantile(0.99)
                    ),
                    "canary": ArmSummary(
                        200 * seq, seq // 3, candidate.quantile(0.5), candidate.quantile(0.99)
                    ),
                },
                e_values={
                    "errors": 0.5 + seq / 10,
                    "latency p50": 0.9**seq,
                    "latency p99": 1.4**seq,
                },
                threshold=60.0,
                verdict={"decision": "continue", "metrics": {"p99": {"e": 1.4**seq}}},
            )
        )
    return ReportData(
        run_id="20260921-120000-ab12",
        kind="canary",
        namespace="default",
        service=service,
        status="rolled_back",
        decision="rollback",
        started=STARTED,
        finished=STARTED + 125.0,
        baseline=f"{service}-v1",
        candidate=f"{service}-v2",
        explanation=[
            "latency p99 regressed: 13.9 ms vs 8.1 ms (e-value 3,214 >= 60)" + message_suffix,
            "traffic restored to the original split",
        ],
        spec={"steps": steps, "alpha": 0.05, "service": service},
        looks=looks,
        traffic=[
            TrafficPoint(0.0, 1),
            TrafficPoint(30.0, 5),
            TrafficPoint(60.0, 10),
            TrafficPoint(90.0, 25),
            TrafficPoint(121.0, 0),
        ],
        histograms={"baseline": baseline.to_dict(), "canary": candidate.to_dict()},
        metrics=[
            MetricRow(
                "error rate",
                RowStatus.PASS,
                "error rate within margin: 0.2% vs 0.1%",
                {"baseline": 0.1, "candidate": 0.2, "e_value": 2.9},
                unit="%",
            ),
            MetricRow(
                "latency p50",
                RowStatus.PASS,
                "latency p50 within margin",
                {"baseline": 5.0, "candidate": 5.5, "ratio": 1.1},
                unit="ms",
            ),
            MetricRow(
                "latency p99",
                RowStatus.FAIL,
                "latency p99 regressed: 13.9 ms vs 8.1 ms" + message_suffix,
                {"baseline": 8.1, "candidate": 13.9, "ratio": 1.72, "e_value": 3214.0},
                unit="ms",
            ),
            MetricRow(
                "slo p99",
                RowStatus.INCONCLUSIVE,
                "not enough requests for the SLO bound",
                {"limit": 300.0, "candidate": None},
                unit="ms",
            ),
        ],
    )


def gate_report() -> ReportData:
    """A passing gate of run B against run A with a 30-run trend."""
    rng = np.random.default_rng(3)
    trend = [
        TrendPoint(
            run_id=f"20260921-{n:02d}0000-aaaa",
            started=STARTED + 3600 * n,
            values={
                "p50_ms": 5 + rng.normal(0, 0.2),
                "p99_ms": 12 + rng.normal(0, 1),
                "error_rate": abs(rng.normal(0.001, 0.0005)),
                "rps": 100 + rng.normal(0, 3),
            },
            label=f"r{n}" if n % 5 == 0 else None,
        )
        for n in range(30)
    ]
    hist = Histogram.from_samples(rng.lognormal(np.log(5.0), 0.3, 5000))
    return ReportData(
        run_id="20260921-300000-bbbb",
        kind="gate",
        namespace="default",
        service="hello",
        status="passed",
        decision="pass",
        started=STARTED + 3600 * 30,
        finished=STARTED + 3600 * 30 + 1,
        baseline="20260921-280000-aaaa",
        candidate="20260921-290000-aaaa",
        label="nightly",
        explanation=["no metric regressed against the reference run"],
        histograms={"reference": hist.to_dict(), "candidate": hist.to_dict()},
        metrics=[
            MetricRow(
                "latency p99",
                RowStatus.PASS,
                "latency p99 within 1.2x",
                {"reference": 12.1, "candidate": 12.3, "ratio": 1.02},
                unit="ms",
            )
        ],
        trend=trend,
    )
