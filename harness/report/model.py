"""What a report shows, as plain values: `ReportData` and its parts.

The canary, perf and gate commands each fill one `ReportData`; every output format
(HTML, JSON, JUnit XML, Markdown) is rendered from it alone. `to_dict`/`from_dict`
are the `report.json` format, which `update_index` reads back. Verdicts stay dicts here
(`LookPoint.verdict`), so reports do not depend on the judge's classes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from harness.statuses import GateVerdict, RunStatus

__all__ = [
    "BAD_STATUSES",
    "GOOD_STATUSES",
    "REPORT_SCHEMA",
    "ArmSummary",
    "LookPoint",
    "MetricRow",
    "ReportData",
    "RowStatus",
    "TrafficPoint",
    "TrendPoint",
    "outcome_class",
]

REPORT_SCHEMA = "knative-harness/report/v1"


class RowStatus(StrEnum):
    """A report row's status (a JUnit testcase: passed, failure, error or skipped)."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


# Run statuses (the store's and the gate's) by how a CI reader should see them.
GOOD_STATUSES = frozenset(
    {RunStatus.PROMOTED, RunStatus.COMPLETED, GateVerdict.PASSED, RowStatus.PASS}
)
BAD_STATUSES = frozenset(
    {
        RunStatus.ROLLED_BACK,
        RunStatus.FAILED,
        GateVerdict.REGRESSION,
        RowStatus.FAIL,
        RowStatus.ERROR,
    }
)


def outcome_class(status: str) -> str:
    """``good``, ``bad`` or ``neutral`` (held, aborted, inconclusive, running...)."""
    if status in GOOD_STATUSES:
        return "good"
    if status in BAD_STATUSES:
        return "bad"
    return "neutral"


@dataclass(frozen=True)
class ArmSummary:
    """One arm's cumulative numbers at a look (or at the end of a run)."""

    requests: int
    errors: int
    p50_ms: float | None = None
    p99_ms: float | None = None

    @property
    def error_rate(self) -> float | None:
        """errors / requests, or None before the first request."""
        return self.errors / self.requests if self.requests else None

    @classmethod
    def from_snapshot(cls, snapshot: Mapping[str, Any]) -> ArmSummary:
        """From an `ArmSnapshot.to_dict()`: ``{"requests", "errors", "latency"}``.

        ``latency`` is a Histogram dict or None (then no quantiles). Raises ValueError
        when it is not a histogram dict.
        """
        from analysis import Histogram

        requests, errors = int(snapshot["requests"]), int(snapshot["errors"])
        if snapshot.get("latency") is None:
            return cls(requests, errors)
        latency = Histogram.from_dict(snapshot["latency"])
        return cls(
            requests=requests,
            errors=errors,
            p50_ms=_finite(latency.quantile(0.5)),
            p99_ms=_finite(latency.quantile(0.99)),
        )


@dataclass(frozen=True)
class LookPoint:
    """One look of a canary.

    ``t`` is seconds since the run started; ``percent`` the candidate's traffic share;
    ``e_values`` the judge's e-value per metric, compared with ``threshold`` (m/alpha);
    ``verdict`` the judge's full verdict dict, kept for report.json.
    """

    seq: int
    t: float
    step: int
    percent: int
    decision: str
    arms: dict[str, ArmSummary]
    e_values: dict[str, float] = field(default_factory=dict)
    threshold: float | None = None
    verdict: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrafficPoint:
    """From ``t`` seconds after the start, the candidate had ``percent`` of the traffic."""

    t: float
    percent: int


@dataclass(frozen=True)
class MetricRow:
    """The outcome for one metric: a JUnit testcase, a table row.

    ``status`` is a `RowStatus` (a string is converted; ValueError if none); ``message``
    one sentence naming the metric (``"latency p99 regressed: 31 ms vs 20 ms (limit
    1.5x)"``); ``values`` the numbers behind it (baseline, candidate, ratio, limit,
    e_value...), shown in order.
    """

    name: str
    status: RowStatus
    message: str
    values: dict[str, float | int | str | None] = field(default_factory=dict)
    unit: str = ""

    def __post_init__(self) -> None:
        if self.status not in set(RowStatus):
            raise ValueError(f"metric status must be one of {', '.join(RowStatus)}")
        object.__setattr__(self, "status", RowStatus(self.status))


@dataclass(frozen=True)
class TrendPoint:
    """One earlier run in a trend: its id, start (Unix s), label and numbers by name."""

    run_id: str
    started: float
    values: dict[str, float]
    label: str | None = None


@dataclass(frozen=True)
class ReportData:
    """Everything one report shows.

    ``kind`` is canary, perf or gate. ``baseline``/``candidate`` are revisions for a
    canary and run ids for a gate (reference and candidate run); ``status`` is the
    run's final status (store or gate vocabulary); ``decision`` a short word and
    ``explanation`` the sentences saying why. ``histograms`` are the final per-arm
    latency histograms as `Histogram.to_dict()`. ``autoscaler`` holds, per revision,
    the autoscaler's series over a perf run (`harness.perf.server_metrics.autoscaler_series`'s
    ``schema``, ``step_s`` and ``series``: gauge -> [[seconds since start, value], ...]).
    Times are Unix seconds.
    """

    run_id: str
    kind: str
    namespace: str
    service: str
    status: str
    decision: str
    started: float
    finished: float | None = None
    baseline: str | None = None
    candidate: str | None = None
    label: str | None = None
    explanation: list[str] = field(default_factory=list)
    spec: dict[str, Any] = field(default_factory=dict)
    looks: list[LookPoint] = field(default_factory=list)
    traffic: list[TrafficPoint] = field(default_factory=list)
    histograms: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: list[MetricRow] = field(default_factory=list)
    trend: list[TrendPoint] = field(default_factory=list)
    autoscaler: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to finish, or None while running."""
        return None if self.finished is None else max(0.0, self.finished - self.started)

    @property
    def title(self) -> str:
        """``Canary hello: hello-v1 → hello-v2``, ``Perf hello``, ``Gate hello: A → B``."""
        title = f"{self.kind.capitalize()} {self.service}"
        if self.baseline and self.candidate:
            title += f": {self.baseline} → {self.candidate}"
        elif self.candidate:
            title += f": {self.candidate}"
        return title

    def to_dict(self) -> dict[str, Any]:
        """The report.json document: plain JSON (NaN and infinities become null)."""
        return {"schema": REPORT_SCHEMA, **_json_safe(asdict(self))}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReportData:
        """Inverse of `to_dict`. Raises ValueError (or KeyError/TypeError) on other input."""
        if data.get("schema") != REPORT_SCHEMA:
            raise ValueError(f"not a {REPORT_SCHEMA} document")
        fields = {k: v for k, v in data.items() if k != "schema"}
        fields["looks"] = [
            LookPoint(
                **{
                    **look,
                    "arms": {name: ArmSummary(**arm) for name, arm in look["arms"].items()},
                }
            )
            for look in data.get("looks", [])
        ]
        fields["traffic"] = [TrafficPoint(**p) for p in data.get("traffic", [])]
        fields["metrics"] = [MetricRow(**m) for m in data.get("metrics", [])]
        fields["trend"] = [TrendPoint(**p) for p in data.get("trend", [])]
        return cls(**fields)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
