"""A revision's KPA settings, resolved from ``config-autoscaler`` and its annotations.

``AutoscalerConfig`` is the cluster's ``config-autoscaler`` ConfigMap with Knative's
defaults and validation (``pkg/autoscaler/config/config.go``); `ScalingSettings` is what
the KPA uses for one revision: the decider's spec (``kpa/resources/decider.go``,
``resources/target.go`` for target and total, ``resources/metric.go`` for the windows)
plus the reconciler's bounds and scale-to-zero periods (``kpa/scaler.go``), all at
knative/serving@98e5ef90aa7033797aa0a61ef97f3ff7e49a3944. An annotation that does not
parse falls back to the cluster default (Knative's webhook would have rejected it; the
CLI lints first). Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

from harness.knative import autoscaling as annotations_
from harness.knative.cluster import HPA, KPA
from harness.knative.goparse import SECOND, parse_duration, parse_float, parse_int

# Knative's defaults (config/core/configmaps/autoscaler.yaml, config.go defaultConfig).
STABLE_WINDOW_S = 60.0
PANIC_WINDOW_PERCENTAGE = 10.0
PANIC_THRESHOLD_PERCENTAGE = 200.0
CONCURRENCY_TARGET_DEFAULT = 100.0
RPS_TARGET_DEFAULT = 200.0
TARGET_UTILIZATION_PERCENTAGE = 70.0
TARGET_BURST_CAPACITY = 211.0
MAX_SCALE_UP_RATE = 1000.0
MAX_SCALE_DOWN_RATE = 2.0
ACTIVATOR_CAPACITY = 100.0
SCALE_TO_ZERO_GRACE_S = 30.0
# The collector's bucket size and the decider's tick (multiscaler.go tickInterval).
GRANULARITY_S = 1.0
TICK_INTERVAL_S = 2.0
# Knative's progress deadline (config-deployment) plus the KPA's activation buffer.
ACTIVATION_TIMEOUT_S = 600.0 + 30.0

_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True}
_BOOLS |= {"0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


@dataclass(frozen=True)
class AutoscalerConfig:
    """``config-autoscaler``: the cluster's defaults (fractions as fractions, durations in
    seconds). `from_map` reads the ConfigMap's keys and validates as Knative does."""

    enable_scale_to_zero: bool = True
    allow_zero_initial_scale: bool = False
    pod_autoscaler_class: str = KPA
    container_concurrency_target_fraction: float = TARGET_UTILIZATION_PERCENTAGE / 100
    container_concurrency_target_default: float = CONCURRENCY_TARGET_DEFAULT
    target_utilization: float = TARGET_UTILIZATION_PERCENTAGE / 100  # rps; no key
    rps_target_default: float = RPS_TARGET_DEFAULT
    max_scale_up_rate: float = MAX_SCALE_UP_RATE
    max_scale_down_rate: float = MAX_SCALE_DOWN_RATE
    target_burst_capacity: float = TARGET_BURST_CAPACITY
    panic_window_percentage: float = PANIC_WINDOW_PERCENTAGE
    activator_capacity: float = ACTIVATOR_CAPACITY
    panic_threshold_percentage: float = PANIC_THRESHOLD_PERCENTAGE
    initial_scale: int = 1
    min_scale: int = 0
    max_scale: int = 0
    max_scale_limit: int = 0
    stable_window_s: float = STABLE_WINDOW_S
    scale_down_delay_s: float = 0.0
    scale_to_zero_grace_period_s: float = SCALE_TO_ZERO_GRACE_S
    scale_to_zero_pod_retention_period_s: float = 0.0

    @classmethod
    def from_map(cls, data: Mapping[str, str]) -> AutoscalerConfig:
        """The config from ConfigMap keys (``stable-window: 60s`` ...) over the defaults;
        ValueError with Knative's message for a value it would refuse."""
        values: dict[str, object] = {}
        for key, text in data.items():
            if key not in CONFIG_KEYS:
                raise ValueError(f"unknown config-autoscaler key {key!r}")
            field_name, kind = CONFIG_KEYS[key]
            values[field_name] = _parse(key, text, kind)
        fraction = values.get("container_concurrency_target_fraction")
        if isinstance(fraction, float) and fraction > 1.0:  # a percentage (legacy: a fraction)
            values["container_concurrency_target_fraction"] = fraction / 100.0
        config = dataclasses.replace(cls(), **values)  # type: ignore[arg-type]
        config.validate()
        return config

    def validate(self) -> None:
        """Knative's ``validate`` (config.go): ValueError for the first broken rule."""
        window_min = annotations_.WINDOW_MIN / SECOND
        window_max = annotations_.WINDOW_MAX / SECOND
        checks = [
            (self.scale_to_zero_grace_period_s > 0, "scale-to-zero-grace-period must be positive"),
            (self.scale_down_delay_s >= 0, "scale-down-delay cannot be negative"),
            (
                float(self.scale_down_delay_s).is_integer(),
                "scale-down-delay must be specified with at most second precision",
            ),
            (
                self.scale_to_zero_pod_retention_period_s >= 0,
                "scale-to-zero-pod-retention-period cannot be negative",
            ),
            (
                self.target_burst_capacity >= 0 or self.target_burst_capacity == -1,
                "target-burst-capacity must be either non-negative or -1 (for unlimited)",
            ),
            (
                0 < self.container_concurrency_target_fraction <= 1,
                "container-concurrency-target-percentage is outside of valid range of (0, 100]",
            ),
            (
                self.container_concurrency_target_fraction
                * self.container_concurrency_target_default
                >= annotations_.TARGET_MIN,
                "container-concurrency-target-percentage and container-concurrency-target-"
                "default yield a target concurrency below 0.01",
            ),
            (
                self.rps_target_default >= annotations_.TARGET_MIN,
                "requests-per-second-target-default must be at least 0.01",
            ),
            (self.activator_capacity >= 1, "activator-capacity must be at least 1"),
            (self.max_scale_up_rate > 1.0, "max-scale-up-rate must be greater than 1.0"),
            (self.max_scale_down_rate > 1.0, "max-scale-down-rate must be greater than 1.0"),
            (
                window_min <= self.stable_window_s <= window_max,
                f"stable-window must be in [{window_min:g}s; {window_max:g}s] range",
            ),
            (
                float(self.stable_window_s).is_integer(),
                "stable-window must be specified with at most second precision",
            ),
            (
                1 <= self.panic_window_percentage <= 100,
                "panic-window-percentage must be in [1, 100] interval",
            ),
            (
                self.initial_scale >= 1
                or (self.initial_scale == 0 and self.allow_zero_initial_scale),
                "initial-scale must be at least 1 (0 only with allow-zero-initial-scale)",
            ),
            (self.min_scale >= 0, "min-scale must be at least 0"),
            (
                self.max_scale >= (1 if self.max_scale_limit > 0 else 0)
                and (self.max_scale_limit <= 0 or self.max_scale <= self.max_scale_limit),
                "max-scale must be in [0 (1 with a max-scale-limit), max-scale-limit] range",
            ),
            (self.max_scale_limit >= 0, "max-scale-limit must be at least 0"),
            (
                not (self.min_scale > self.max_scale > 0),
                "min-scale must be less than or equal to max-scale",
            ),
            (
                110 <= self.panic_threshold_percentage <= 1000,
                "panic-threshold-percentage must be in [110, 1000] interval",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


# ConfigMap key -> (field, kind): kind is bool, float, int or duration (seconds).
CONFIG_KEYS: dict[str, tuple[str, str]] = {
    "enable-scale-to-zero": ("enable_scale_to_zero", "bool"),
    "allow-zero-initial-scale": ("allow_zero_initial_scale", "bool"),
    "pod-autoscaler-class": ("pod_autoscaler_class", "str"),
    "max-scale-up-rate": ("max_scale_up_rate", "float"),
    "max-scale-down-rate": ("max_scale_down_rate", "float"),
    "container-concurrency-target-percentage": ("container_concurrency_target_fraction", "float"),
    "container-concurrency-target-default": ("container_concurrency_target_default", "float"),
    "requests-per-second-target-default": ("rps_target_default", "float"),
    "target-burst-capacity": ("target_burst_capacity", "float"),
    "panic-window-percentage": ("panic_window_percentage", "float"),
    "activator-capacity": ("activator_capacity", "float"),
    "panic-threshold-percentage": ("panic_threshold_percentage", "float"),
    "initial-scale": ("initial_scale", "int"),
    "min-scale": ("min_scale", "int"),
    "max-scale": ("max_scale", "int"),
    "max-scale-limit": ("max_scale_limit", "int"),
    "stable-window": ("stable_window_s", "duration"),
    "scale-down-delay": ("scale_down_delay_s", "duration"),
    "scale-to-zero-grace-period": ("scale_to_zero_grace_period_s", "duration"),
    "scale-to-zero-pod-retention-period": ("scale_to_zero_pod_retention_period_s", "duration"),
}


def _parse(key: str, text: str, kind: str) -> object:
    try:
        if kind == "bool":
            if text not in _BOOLS:
                raise ValueError(text)
            return _BOOLS[text]
        if kind == "float":
            value = parse_float(text)
            if not math.isfinite(value):
                raise ValueError(text)
            return value
        if kind == "int":
            return parse_int(text, 32)
        if kind == "duration":
            return parse_duration(text) / SECOND
        return text
    except ValueError:
        raise ValueError(f"config-autoscaler {key}: cannot parse {text!r}") from None


@dataclass(frozen=True)
class ScalingSettings:
    """A revision's KPA knobs, resolved as Knative resolves them.

    Decider spec: ``target`` is the per-pod value aimed at (``total`` x utilization),
    ``total`` what one pod can take; windows in seconds; ``panic_threshold`` a ratio
    (2.0 = 200%); the scale rates; ``target_burst_capacity`` (-1 unlimited: the activator
    always in the path); ``activation_scale`` (0 or 1: none); ``reachable`` (a route
    sends traffic to it). Reconciler: ``min_scale``, ``max_scale`` (0 = unlimited),
    ``initial_scale`` and the scale-to-zero switches and periods.
    """

    metric: str = "concurrency"
    target: float = CONCURRENCY_TARGET_DEFAULT * TARGET_UTILIZATION_PERCENTAGE / 100
    total: float = CONCURRENCY_TARGET_DEFAULT
    stable_window_s: float = STABLE_WINDOW_S
    panic_window_s: float = STABLE_WINDOW_S * PANIC_WINDOW_PERCENTAGE / 100
    panic_threshold: float = PANIC_THRESHOLD_PERCENTAGE / 100
    min_scale: int = 0
    max_scale: int = 0
    target_burst_capacity: float = TARGET_BURST_CAPACITY
    scale_down_delay_s: float = 0.0
    initial_scale: int = 1
    activation_scale: int = 0
    max_scale_up_rate: float = MAX_SCALE_UP_RATE
    max_scale_down_rate: float = MAX_SCALE_DOWN_RATE
    activator_capacity: float = ACTIVATOR_CAPACITY
    reachable: bool = True
    enable_scale_to_zero: bool = True
    scale_to_zero_grace_s: float = SCALE_TO_ZERO_GRACE_S
    scale_to_zero_retention_s: float = 0.0
    container_concurrency: int = 0
    utilization: float = TARGET_UTILIZATION_PERCENTAGE / 100
    aggregation: str = "linear"  # or "weighted-exponential"

    @classmethod
    def from_revision(
        cls,
        annotations: Mapping[str, str],
        container_concurrency: int = 0,
        config: AutoscalerConfig | None = None,
    ) -> ScalingSettings | None:
        """The settings of a revision from its annotations, ``containerConcurrency`` and
        the cluster's ``config-autoscaler``. None for a revision of the HPA class (the KPA
        does not scale it)."""
        cfg = config or AutoscalerConfig()
        found_class = annotations_.lookup(annotations, annotations_.CLASS)
        klass = found_class[1] if found_class is not None else cfg.pod_autoscaler_class
        if klass == HPA:
            return None
        metric_found = annotations_.lookup(annotations, annotations_.METRIC)
        metric = "rps" if metric_found is not None and metric_found[1] == "rps" else "concurrency"
        target, total, utilization = resolve_metric_target(
            annotations, container_concurrency, metric, cfg
        )
        stable = _window_s(annotations, cfg.stable_window_s)
        panic_percentage = _float(annotations, annotations_.PANIC_WINDOW)
        if panic_percentage is None or not 1 <= panic_percentage <= 100:
            panic_percentage = cfg.panic_window_percentage
        threshold = _float(annotations, annotations_.PANIC_THRESHOLD)
        if threshold is None or not 110 <= threshold <= 1000:
            threshold = cfg.panic_threshold_percentage
        burst = _float(annotations, annotations_.TARGET_BURST_CAPACITY)
        if burst is None or (burst < 0 and burst != -1):
            burst = cfg.target_burst_capacity
        low, high, initial = revision_scale(annotations, cfg)
        activation = _int(annotations, annotations_.ACTIVATION_SCALE)
        return cls(
            metric=metric,
            target=target,
            total=total,
            stable_window_s=stable,
            panic_window_s=panic_window_s(stable, panic_percentage),
            panic_threshold=threshold / 100,
            min_scale=low,
            max_scale=high,
            target_burst_capacity=burst,
            scale_down_delay_s=_duration_s(
                annotations, annotations_.SCALE_DOWN_DELAY, cfg.scale_down_delay_s
            ),
            initial_scale=initial,
            activation_scale=activation if activation is not None and activation > 1 else 0,
            max_scale_up_rate=cfg.max_scale_up_rate,
            max_scale_down_rate=cfg.max_scale_down_rate,
            activator_capacity=cfg.activator_capacity,
            enable_scale_to_zero=cfg.enable_scale_to_zero,
            scale_to_zero_grace_s=cfg.scale_to_zero_grace_period_s,
            scale_to_zero_retention_s=_duration_s(
                annotations, annotations_.RETENTION, cfg.scale_to_zero_pod_retention_period_s
            ),
            container_concurrency=container_concurrency,
            utilization=utilization,
            aggregation=_aggregation(annotations),
        )


def _aggregation(annotations: Mapping[str, str]) -> str:
    """``Metric.AggregationAlgorithm``: weighted-exponential (either spelling) or linear."""
    found = annotations_.lookup(annotations, annotations_.AGGREGATION)
    if found is not None and found[1] in ("weighted-exponential", "weightedExponential"):
        return "weighted-exponential"
    return "linear"


def resolve_metric_target(
    annotations: Mapping[str, str],
    container_concurrency: int,
    metric: str,
    config: AutoscalerConfig,
) -> tuple[float, float, float]:
    """Knative's ``ResolveMetricTarget``: (target, total, utilization fraction).

    rps: total = requests-per-second-target-default (200), utilization 70%; concurrency:
    total = containerConcurrency, else container-concurrency-target-default (100),
    utilization container-concurrency-target-percentage (70%). A ``target`` annotation
    replaces total (capped at containerConcurrency for concurrency); a
    ``target-utilization-percentage`` annotation replaces the utilization; target =
    max(0.01, total x utilization).
    """
    if metric == "rps":
        total = config.rps_target_default
        utilization = config.target_utilization
    else:
        total = float(container_concurrency) or config.container_concurrency_target_default
        utilization = config.container_concurrency_target_fraction
    annotated = _float(annotations, annotations_.TARGET)
    if annotated is not None and annotated >= annotations_.TARGET_MIN:
        total = annotated
        if metric == "concurrency" and container_concurrency > 0:
            total = min(annotated, float(container_concurrency))
    percentage = _float(annotations, annotations_.TARGET_UTILIZATION)
    if percentage is not None and 1 <= percentage <= 100:
        utilization = percentage / 100
    return max(annotations_.TARGET_MIN, total * utilization), total, utilization


def panic_window_s(stable_window_s: float, percentage: float) -> float:
    """``resources.MakeMetric``: stable x percentage / 100, rounded to the second (Go's
    Duration.Round: halves away from zero), at least one 1 s bucket."""
    return max(GRANULARITY_S, float(math.floor(stable_window_s * percentage / 100 + 0.5)))


def revision_scale(
    annotations: Mapping[str, str], config: AutoscalerConfig | None = None
) -> tuple[int, int, int]:
    """A revision's (min-scale, max-scale, initial-scale): the annotations, else the
    cluster's min-scale, max-scale and initial-scale (0, 0 = no maximum, 1). An invalid
    max-scale (below min-scale) counts as none; initial-scale 0 needs the cluster's
    allow-zero-initial-scale (``GetInitialScale``)."""
    cfg = config or AutoscalerConfig()
    low = _int(annotations, annotations_.MIN_SCALE)
    high = _int(annotations, annotations_.MAX_SCALE)
    initial = _int(annotations, annotations_.INITIAL_SCALE)
    low = cfg.min_scale if low is None else low
    high = cfg.max_scale if high is None else high
    if initial is None or (initial == 0 and not cfg.allow_zero_initial_scale):
        initial = cfg.initial_scale
    return low, high if high == 0 or high >= low else 0, initial


def _float(annotations: Mapping[str, str], key: str) -> float | None:
    found = annotations_.lookup(annotations, key)
    if found is None:
        return None
    try:
        value = parse_float(found[1])
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _int(annotations: Mapping[str, str], key: str) -> int | None:
    found = annotations_.lookup(annotations, key)
    if found is None:
        return None
    try:
        value = parse_int(found[1], 32)
    except ValueError:
        return None
    return value if value >= 0 else None


def _duration_s(annotations: Mapping[str, str], key: str, default: float) -> float:
    found = annotations_.lookup(annotations, key)
    if found is None:
        return default
    try:
        nanos = parse_duration(found[1])
    except ValueError:
        return default
    return nanos / SECOND if 0 <= nanos <= annotations_.WINDOW_MAX else default


def _window_s(annotations: Mapping[str, str], default: float) -> float:
    found = annotations_.lookup(annotations, annotations_.WINDOW)
    if found is None:
        return default
    try:
        nanos = parse_duration(found[1])
    except ValueError:
        return default
    if not annotations_.WINDOW_MIN <= nanos <= annotations_.WINDOW_MAX:
        return default
    return nanos / SECOND
