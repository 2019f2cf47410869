"""The judge's settings, every one with a sound default, in four groups.

`JudgeConfig` holds the levels and the look rules; `Margins` (when to promote),
`Tolerances` (when to roll back), `Slos` (absolute objectives) and `Priors` (the
mixtures' spreads) are its groups. The dotted names (``margins.median_ratio``) are the
one vocabulary of the API, the YAML canary spec and the CLI (``--margin-median-ratio``);
docs/contracts.md has the table. The defaults live here only: the spec and the CLI
read them from these classes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

ERROR_RATE = "error_rate"
LATENCY_MEDIAN = "latency_median"
LATENCY_TAIL = "latency_tail"
SLO_ERROR_RATE = "slo_error_rate"
SLO_LATENCY = "slo_latency"
COMPARATIVE_METRICS = (ERROR_RATE, LATENCY_MEDIAN, LATENCY_TAIL)
# The kinds of comparative metric that have both a margin and a rollback tolerance.
RATIO_KINDS = ("error_ratio", "median_ratio", "tail_ratio")


class Direction(StrEnum):
    """Which way a metric gets worse."""

    HIGHER_IS_WORSE = "higher_is_worse"
    LOWER_IS_WORSE = "lower_is_worse"


def _raise(problems: list[str]) -> None:
    if problems:
        raise ValueError("; ".join(problems))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_types(instance: Any, group: str) -> list[str]:
    """Numbers must be numbers (a YAML ``true`` is not 1) and finite."""
    problems = []
    for f in fields(instance):
        value = getattr(instance, f.name)
        if value is None or f.name == "directions" or isinstance(value, tuple):
            continue
        if not _is_number(value) and not isinstance(value, _GROUPS):
            problems.append(f"{group}{f.name}: must be a number, not {type(value).__name__}")
        elif _is_number(value) and not math.isfinite(value):
            problems.append(f"{group}{f.name}: must be finite")
    return problems


@dataclass(frozen=True)
class Margins:
    """Non-inferiority margins: how much worse the canary may be and still be promoted.

    Error-rate ratio ``error_ratio`` or absolute increase ``error_abs`` (either
    suffices); ratio of geometric-mean latency ``median_ratio``; ratio of the canary's to
    the baseline's share of requests above the pooled ``tail_quantile`` ``tail_ratio``.
    The two ratios of rare events default to 2, not 1.5: with 0.5% errors and 20,000
    requests per arm (100 errors each) even the best fixed-n test shows a ratio under 1.5
    in only 88% of identical runs, so no anytime-valid rule could promote 90% of them
    (docs/judge.md, "Margins").
    """

    error_ratio: float = 2.0
    error_abs: float = 0.001
    median_ratio: float = 1.05
    tail_ratio: float = 2.0
    tail_quantile: float = 0.99

    def __post_init__(self) -> None:
        problems = _check_types(self, "margins.")
        if not problems:
            for name in RATIO_KINDS:
                if not getattr(self, name) > 1.0:
                    problems.append(f"margins.{name}: must be > 1")
            if not 0.0 < self.error_abs <= 1.0:
                problems.append("margins.error_abs: must be within (0, 1]")
            if not 0.0 < self.tail_quantile < 1.0:
                problems.append("margins.tail_quantile: must be within (0, 1)")
        _raise(problems)


@dataclass(frozen=True)
class Tolerances:
    """Rollback tolerances (practical significance), each >= 1 and below its margin.

    A metric rolls back only once the canary is shown worse than ``error_ratio``
    (error-rate ratio), ``median_ratio`` (geometric-mean latency ratio; the canary's tail
    thresholds are raised by it too) or ``tail_ratio`` (ratio of shares above each tail
    threshold). Small, real differences (two builds of the same code on different nodes)
    stop short of a rollback; detection of larger regressions is slower (docs/judge.md,
    "Practical significance"). 1 everywhere rolls back any provable regression.
    """

    error_ratio: float = 1.1
    median_ratio: float = 1.02
    tail_ratio: float = 1.0

    def __post_init__(self) -> None:
        problems = _check_types(self, "tolerances.")
        if not problems:
            for name in RATIO_KINDS:
                if not getattr(self, name) >= 1.0:
                    problems.append(f"tolerances.{name}: must be >= 1")
        _raise(problems)


@dataclass(frozen=True)
class Slos:
    """Absolute objectives, off when None: canary error rate ``<= error_rate``; canary
    ``latency_quantile`` ``<= latency_ms`` (snapped down to a bucket bound)."""

    error_rate: float | None = None
    latency_ms: float | None = None
    latency_quantile: float = 0.99

    def __post_init__(self) -> None:
        problems = _check_types(self, "slos.")
        if not problems:
            if self.error_rate is not None and not 0.0 < self.error_rate < 1.0:
                problems.append("slos.error_rate: must be within (0, 1)")
            if self.latency_ms is not None and not self.latency_ms > 0:
                problems.append("slos.latency_ms: must be > 0")
            if not 0.0 < self.latency_quantile < 1.0:
                problems.append("slos.latency_quantile: must be within (0, 1)")
        _raise(problems)


@dataclass(frozen=True)
class Priors:
    """Spreads of the e-processes' mixtures: ``rate_scale`` (half-logistic scale on log
    rate ratios), ``shift_scale`` (half-normal scale on the log-latency shift),
    ``bound_width`` (spread of the non-inferiority priors, relative to the margin)."""

    rate_scale: float = 1.0
    shift_scale: float = 0.1
    bound_width: float = 0.25

    def __post_init__(self) -> None:
        problems = _check_types(self, "priors.")
        if not problems:
            for f in fields(self):
                if not getattr(self, f.name) > 0:
                    problems.append(f"priors.{f.name}: must be > 0")
        _raise(problems)


_GROUPS = (Margins, Tolerances, Slos, Priors)
# The groups of `JudgeConfig` by field name.
GROUPS: dict[str, type[Margins | Tolerances | Slos | Priors]] = {
    "margins": Margins,
    "tolerances": Tolerances,
    "slos": Slos,
    "priors": Priors,
}


@dataclass(frozen=True)
class JudgeConfig:
    """Settings of `SequentialJudge`; fixed before the run (validity depends on it).

    Levels: ``alpha`` bounds the probability of ever rolling back a canary that is not
    worse than the baseline on any metric, however often the judge looks (split evenly
    over the metrics: a metric rolls back at e-value ``m / alpha``). ``promote_alpha``
    (default ``alpha``) bounds the probability of promoting a canary that is worse than a
    margin on some metric.

    Groups: ``margins`` (promotion), ``tolerances`` (rollback), ``slos`` (absolute
    objectives), ``priors``; see each class.

    Looks are the unit of comparison (time blocks): latency looks with fewer than
    ``min_block_requests`` requests in an arm are merged with the next ones. Nothing is
    decided before ``min_requests_per_arm`` requests per arm.

    Tail thresholds: the ``tail_quantiles`` of both arms' latency pooled without arm
    labels (so the arm labels being tested stay exchangeable under the null), with
    ``tail_weights`` summing to 1 in the average of their e-values;
    ``margins.tail_quantile`` must be one of them. ``srm_alpha`` is the level of the
    sample-ratio guard; ``directions`` say which way a comparative metric gets worse.
    """

    alpha: float = 0.05
    promote_alpha: float | None = None
    min_requests_per_arm: int = 1000
    min_block_requests: int = 20
    margins: Margins = field(default_factory=Margins)
    tolerances: Tolerances = field(default_factory=Tolerances)
    slos: Slos = field(default_factory=Slos)
    priors: Priors = field(default_factory=Priors)
    tail_quantiles: tuple[float, ...] = (0.98, 0.99, 0.995, 0.999)
    tail_weights: tuple[float, ...] = (0.25, 0.25, 0.25, 0.25)
    srm_alpha: float = 0.001
    directions: Mapping[str, Direction] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = _check_types(self, "")
        for name, group in GROUPS.items():
            if not isinstance(getattr(self, name), group):
                problems.append(f"{name}: must be a {group.__name__}")
        _raise(problems)
        for name in ("alpha", "srm_alpha"):
            if not 0.0 < getattr(self, name) < 1.0:
                problems.append(f"{name}: must be within (0, 1)")
        if self.promote_alpha is not None and not 0.0 < self.promote_alpha < 1.0:
            problems.append("promote_alpha: must be within (0, 1)")
        for kind in RATIO_KINDS:
            tolerance = getattr(self.tolerances, kind)
            margin = getattr(self.margins, kind)
            if not tolerance < margin:
                problems.append(
                    f"tolerances.{kind}: {tolerance:g} must be below margins.{kind} ({margin:g})"
                )
        if self.min_requests_per_arm < 0:
            problems.append("min_requests_per_arm: must be >= 0")
        if self.min_block_requests < 1:
            problems.append("min_block_requests: must be >= 1")
        if len(self.tail_quantiles) != len(self.tail_weights) or not self.tail_quantiles:
            problems.append("tail_weights: needs as many weights as tail_quantiles, at least one")
        if any(not _is_number(q) or not 0.0 < q < 1.0 for q in self.tail_quantiles):
            problems.append("tail_quantiles: must be within (0, 1)")
        if any(not _is_number(w) or w <= 0 for w in self.tail_weights) or not math.isclose(
            sum(self.tail_weights), 1.0
        ):
            problems.append("tail_weights: must be positive and sum to 1")
        if self.margins.tail_quantile not in self.tail_quantiles:
            problems.append("margins.tail_quantile: must be one of tail_quantiles")
        unknown = set(self.directions) - set(COMPARATIVE_METRICS)
        if unknown:
            known = ", ".join(COMPARATIVE_METRICS)
            problems.append(f"directions: unknown metrics {sorted(unknown)} (known: {known})")
        _raise(problems)

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The metrics judged, fixed by the configuration (their number is m)."""
        names = list(COMPARATIVE_METRICS)
        if self.slos.error_rate is not None:
            names.append(SLO_ERROR_RATE)
        if self.slos.latency_ms is not None:
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
        """JSON-safe, grouped form (docs/contracts.md, "The judge's settings")."""
        data = asdict(self)
        data["directions"] = {k: Direction(v).value for k, v in self.directions.items()}
        data["tail_quantiles"] = list(self.tail_quantiles)
        data["tail_weights"] = list(self.tail_weights)
        return data

    def changed(self) -> dict[str, Any]:
        """The settings that differ from the defaults, by dotted name (JSON-safe values)."""
        defaults = judge_defaults()
        return {k: v for k, v in flatten(self.to_dict()).items() if v != defaults[k]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JudgeConfig:
        """Inverse of `to_dict`. Raises ValueError or TypeError on other input."""
        values: dict[str, Any] = dict(data)
        for name, group in GROUPS.items():
            if name in values:
                values[name] = group(**values[name])
        for name in ("tail_quantiles", "tail_weights"):
            if name in values:
                values[name] = tuple(values[name])
        if "directions" in values:
            values["directions"] = {k: Direction(v) for k, v in values["directions"].items()}
        return cls(**values)


def judge_defaults() -> dict[str, Any]:
    """Every setting's default by dotted name (``margins.median_ratio``: 1.05, ...)."""
    return flatten(JudgeConfig().to_dict())


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"margins": {"error_ratio": 2}}`` -> ``{"margins.error_ratio": 2}`` (groups only)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping) and key != "directions":
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


@dataclass(frozen=True)
class GateTolerances:
    """How much worse a candidate perf run may be than its reference (`harness gate`).

    ``error_rate``: absolute increase of the error rate (0.001 = 0.1 point).
    ``quantiles``: (q, tolerated relative increase) per latency quantile (0.10 = "p99 may
    be 10% worse"). ``alpha``: false-discovery rate across the metrics (Benjamini–Hochberg).
    ``min_requests``: requests each run needs before its error rate is judged.
    ``min_tail_events``: a quantile q is judged only when the smaller run expects at least
    this many requests above it. Fixed-horizon tests (`analysis.fixed.compare_runs`).
    """

    error_rate: float = 0.001
    quantiles: tuple[tuple[float, float], ...] = ((0.5, 0.05), (0.9, 0.10), (0.99, 0.10))
    alpha: float = 0.05
    min_requests: int = 100
    min_tail_events: float = 10.0

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 <= self.error_rate <= 1.0:
            problems.append("error_rate: must be within [0, 1]")
        if any(not 0.0 < q < 1.0 or not tolerance >= 0.0 for q, tolerance in self.quantiles):
            problems.append("quantiles: each q within (0, 1), each tolerance >= 0")
        if not 0.0 < self.alpha < 1.0:
            problems.append("alpha: must be within (0, 1)")
        if self.min_requests < 1:
            problems.append("min_requests: must be >= 1")
        if not self.min_tail_events > 0:
            problems.append("min_tail_events: must be > 0")
        _raise(problems)

    def quantile(self, q: float) -> float:
        """The tolerated relative increase of quantile ``q`` (KeyError if not judged)."""
        return dict(self.quantiles)[q]
