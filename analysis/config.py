"""The judge's settings, every one with a sound default."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

ERROR_RATE = "error_rate"
LATENCY_MEDIAN = "latency_median"
LATENCY_TAIL = "latency_tail"
SLO_ERROR_RATE = "slo_error_rate"
SLO_LATENCY = "slo_latency"
COMPARATIVE_METRICS = (ERROR_RATE, LATENCY_MEDIAN, LATENCY_TAIL)


class Direction(StrEnum):
    """Which way a metric gets worse."""

    HIGHER_IS_WORSE = "higher_is_worse"
    LOWER_IS_WORSE = "lower_is_worse"


@dataclass(frozen=True)
class JudgeConfig:
    """Settings of `SequentialJudge`; fixed before the run (validity depends on it).

    Levels: ``alpha`` bounds the probability of ever rolling back a canary that is not
    worse than the baseline on any metric, however often the judge looks (split evenly
    over the metrics: a metric rolls back at e-value ``m / alpha``). ``promote_alpha``
    (default ``alpha``) bounds the probability of promoting a canary that is worse than a
    margin on some metric.

    Margins (non-inferiority): error-rate ratio ``error_ratio_margin`` or absolute
    increase ``error_abs_margin`` (either suffices); ratio of geometric-mean latency
    ``median_ratio_margin``; ratio of the canary's to the baseline's share of requests
    above the pooled ``tail_margin_quantile`` ``tail_ratio_margin``. The two ratios of
    rare events default to 2, not the design notes' 1.5: with 0.5% errors and 20,000
    requests per arm (100 errors each) even the best fixed-n test shows a ratio under 1.5
    in only 88% of identical runs, so no anytime-valid rule could promote 90% of them
    (docs/judge.md, "Margins").

    Rollback tolerances (practical significance): a metric rolls back only once the
    canary is shown worse than ``error_rollback_ratio`` (error-rate ratio, default 1.1),
    ``median_rollback_ratio`` (geometric-mean latency ratio, default 1.02; the canary's
    tail thresholds are raised by it too) or ``tail_rollback_ratio`` (ratio of shares
    above each tail threshold, default 1). Each must be below its margin. Small, real
    differences (two builds of the same code on different nodes) stop short of a
    rollback; detection of larger regressions is slower (docs/judge.md). 1 everywhere
    rolls back any provable regression.

    Looks are the unit of comparison (time blocks): latency looks with fewer than
    ``min_block_requests`` requests in an arm are merged with the next ones.

    Tail thresholds: the ``tail_quantiles`` of both arms' latency pooled without arm
    labels (so the arm labels being tested stay exchangeable under the null), with
    ``tail_weights`` summing to 1 in the average of their e-values.

    Absolute SLOs (off when None): canary error rate ``<= slo_error_rate``; canary
    ``slo_latency_quantile`` ``<= slo_latency_ms`` (snapped down to a bucket bound).

    Priors: ``rate_prior_scale`` (half-logistic scale on log rate ratios),
    ``shift_prior_scale`` (half-normal scale on the log-latency shift),
    ``bound_prior_width`` (spread of the non-inferiority priors, relative to the margin).
    """

    alpha: float = 0.05
    promote_alpha: float | None = None
    min_requests_per_arm: int = 1000
    min_block_requests: int = 20
    error_ratio_margin: float = 2.0
    error_abs_margin: float = 0.001
    median_ratio_margin: float = 1.05
    tail_ratio_margin: float = 2.0
    tail_margin_quantile: float = 0.99
    error_rollback_ratio: float = 1.1
    median_rollback_ratio: float = 1.02
    tail_rollback_ratio: float = 1.0
    tail_quantiles: tuple[float, ...] = (0.98, 0.99, 0.995, 0.999)
    tail_weights: tuple[float, ...] = (0.25, 0.25, 0.25, 0.25)
    slo_error_rate: float | None = None
    slo_latency_ms: float | None = None
    slo_latency_quantile: float = 0.99
    rate_prior_scale: float = 1.0
    shift_prior_scale: float = 0.1
    bound_prior_width: float = 0.25
    srm_alpha: float = 0.001
    directions: Mapping[str, Direction] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = []
        for name in ("alpha", "srm_alpha"):
            if not 0.0 < getattr(self, name) < 1.0:
                problems.append(f"{name} must be within (0, 1)")
        if self.promote_alpha is not None and not 0.0 < self.promote_alpha < 1.0:
            problems.append("promote_alpha must be within (0, 1)")
        for name in ("error_ratio_margin", "median_ratio_margin", "tail_ratio_margin"):
            if not getattr(self, name) > 1.0:
                problems.append(f"{name} must be > 1")
        for kind in ("error", "median", "tail"):
            tolerance = getattr(self, f"{kind}_rollback_ratio")
            margin = getattr(self, f"{kind}_ratio_margin")
            if not 1.0 <= tolerance < margin:
                problems.append(
                    f"{kind}_rollback_ratio must be >= 1 and below {kind}_ratio_margin ({margin:g})"
                )
        if not self.error_abs_margin > 0:
            problems.append("error_abs_margin must be > 0")
        if self.min_requests_per_arm < 0:
            problems.append("min_requests_per_arm must be >= 0")
        if self.min_block_requests < 1:
            problems.append("min_block_requests must be >= 1")
        if len(self.tail_quantiles) != len(self.tail_weights) or not self.tail_quantiles:
            problems.append("tail_quantiles and tail_weights need the same, non-zero length")
        if any(not 0.0 < q < 1.0 for q in self.tail_quantiles):
            problems.append("tail_quantiles must be within (0, 1)")
        if any(w <= 0 for w in self.tail_weights) or not math.isclose(sum(self.tail_weights), 1.0):
            problems.append("tail_weights must be positive and sum to 1")
        if self.tail_margin_quantile not in self.tail_quantiles:
            problems.append("tail_margin_quantile must be one of tail_quantiles")
        if self.slo_error_rate is not None and not 0.0 < self.slo_error_rate < 1.0:
            problems.append("slo_error_rate must be within (0, 1)")
        if self.slo_latency_ms is not None and not self.slo_latency_ms > 0:
            problems.append("slo_latency_ms must be > 0")
        if not 0.0 < self.slo_latency_quantile < 1.0:
            problems.append("slo_latency_quantile must be within (0, 1)")
        for name in ("rate_prior_scale", "shift_prior_scale", "bound_prior_width"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be > 0")
        unknown = set(self.directions) - set(COMPARATIVE_METRICS)
        if unknown:
            problems.append(f"directions for unknown metrics: {sorted(unknown)}")
        if problems:
            raise ValueError("invalid JudgeConfig: " + "; ".join(problems))

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The metrics judged, fixed by the configuration (their number is m)."""
        names = list(COMPARATIVE_METRICS)
        if self.slo_error_rate is not None:
            names.append(SLO_ERROR_RATE)
        if self.slo_latency_ms is not None:
            names.append(SLO_LATENCY)
        return tuple(names)

    @property
    def rollback_e_value(self) -> float:
        """The e-value at which a metric rolls back: m / alpha."""
        return len(self.metric_names) / self.alpha

    @property
    def promote_level(self) -> float:
        """Level of the non-inferiority bounds."""
        return self.alpha if self.promote_alpha is None else self.promote_alpha

    def direction(self, metric: str) -> Direction:
        """Direction of a metric (higher is worse unless configured)."""
        return Direction(self.directions.get(metric, Direction.HIGHER_IS_WORSE))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        data = asdict(self)
        data["directions"] = {k: Direction(v).value for k, v in self.directions.items()}
        data["tail_quantiles"] = list(self.tail_quantiles)
        data["tail_weights"] = list(self.tail_weights)
        return data
