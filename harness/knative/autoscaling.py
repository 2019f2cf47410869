"""Knative's validation of ``autoscaling.knative.dev/*`` annotations on a revision template.

Mirrors knative/serving ``pkg/apis/autoscaling/annotation_validation.go`` (rules, order,
messages) and ``register.go`` (keys and their camelCase aliases). Paths are the
annotation keys; callers prefix ``spec.template.metadata.annotations``.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.knative.cluster import HPA, KPA, ClusterConfig
from harness.knative.field_error import FieldError
from harness.knative.goparse import (
    HOUR,
    INT32_MAX,
    SECOND,
    GoRangeError,
    format_duration,
    format_float,
    parse_duration,
    parse_float,
    parse_int,
)

GROUP = "autoscaling.knative.dev"
KNATIVE_DOMAIN_SUFFIX = ".knative.dev"

CLASS = f"{GROUP}/class"
METRIC = f"{GROUP}/metric"
TARGET = f"{GROUP}/target"
TARGET_UTILIZATION = f"{GROUP}/target-utilization-percentage"
TARGET_BURST_CAPACITY = f"{GROUP}/target-burst-capacity"
MIN_SCALE = f"{GROUP}/min-scale"
MAX_SCALE = f"{GROUP}/max-scale"
INITIAL_SCALE = f"{GROUP}/initial-scale"
ACTIVATION_SCALE = f"{GROUP}/activation-scale"
SCALE_DOWN_DELAY = f"{GROUP}/scale-down-delay"
WINDOW = f"{GROUP}/window"
PANIC_WINDOW = f"{GROUP}/panic-window-percentage"
PANIC_THRESHOLD = f"{GROUP}/panic-threshold-percentage"
RETENTION = f"{GROUP}/scale-to-zero-pod-retention-period"
AGGREGATION = f"{GROUP}/metric-aggregation-algorithm"

# Each key with its spellings in Knative's priority order (kebab-case wins).
SPELLINGS: dict[str, tuple[str, ...]] = {
    CLASS: (CLASS,),
    METRIC: (METRIC,),
    TARGET: (TARGET,),
    TARGET_UTILIZATION: (TARGET_UTILIZATION, f"{GROUP}/targetUtilizationPercentage"),
    TARGET_BURST_CAPACITY: (TARGET_BURST_CAPACITY, f"{GROUP}/targetBurstCapacity"),
    MIN_SCALE: (MIN_SCALE, f"{GROUP}/minScale"),
    MAX_SCALE: (MAX_SCALE, f"{GROUP}/maxScale"),
    INITIAL_SCALE: (INITIAL_SCALE, f"{GROUP}/initialScale"),
    ACTIVATION_SCALE: (ACTIVATION_SCALE,),
    SCALE_DOWN_DELAY: (SCALE_DOWN_DELAY, f"{GROUP}/scaleDownDelay"),
    WINDOW: (WINDOW,),
    PANIC_WINDOW: (PANIC_WINDOW, f"{GROUP}/panicWindowPercentage"),
    PANIC_THRESHOLD: (PANIC_THRESHOLD, f"{GROUP}/panicThresholdPercentage"),
    RETENTION: (RETENTION, f"{GROUP}/scaleToZeroPodRetentionPeriod"),
    AGGREGATION: (AGGREGATION, f"{GROUP}/metricAggregationAlgorithm"),
}

WINDOW_MIN = 6 * SECOND
WINDOW_MAX = HOUR
TARGET_MIN = 0.01
METRICS_KPA = ("concurrency", "rps")
AGGREGATION_ALGORITHMS = ("linear", "weighted-exponential", "weightedExponential")


def lookup(annotations: Mapping[str, str], key: str) -> tuple[str, str] | None:
    """The (spelling, value) Knative reads for ``key``: the first spelling present, in
    priority order (Knative's ``kmap.KeyPriority.Get``); None when no spelling is set."""
    for spelling in SPELLINGS[key]:
        if spelling in annotations:
            return spelling, annotations[spelling]
    return None


def _error(message: str, *paths: str, rule: str) -> FieldError:
    return FieldError(message, paths, rule=rule)


def _invalid(value: str, path: str, rule: str) -> FieldError:
    return _error(f"invalid value: {value}", path, rule=rule)


def _out_of_bounds(value: object, low: object, high: object, path: str, rule: str) -> FieldError:
    return _error(f"expected {low} <= {value} <= {high}", path, rule=rule)


def _class(anns: Mapping[str, str]) -> list[FieldError]:
    if found := lookup(anns, CLASS):
        key, value = found
        if value.endswith(KNATIVE_DOMAIN_SUFFIX) and value not in (KPA, HPA):
            return [_invalid(value, key, "autoscaling-class")]
    return []


def _int_ge0(anns: Mapping[str, str], key: str, rule: str) -> tuple[int, list[FieldError]]:
    found = lookup(anns, key)
    if found is None:
        return 0, []
    spelling, value = found
    try:
        number = parse_int(value, 32)
    except GoRangeError:
        return 0, [_out_of_bounds(value, 0, INT32_MAX, spelling, rule)]
    except ValueError:
        return 0, [_invalid(value, spelling, rule)]
    if number < 0:
        return 0, [_out_of_bounds(value, 0, INT32_MAX, spelling, rule)]
    return number, []


def _scale_bounds(config: ClusterConfig, anns: Mapping[str, str]) -> list[FieldError]:
    low, errors = _int_ge0(anns, MIN_SCALE, "autoscaling-min-scale")
    high, more = _int_ge0(anns, MAX_SCALE, "autoscaling-max-scale")
    errors += more
    if high != 0 and high < low:
        errors.append(
            _error(
                f"max-scale={high} is less than min-scale={low}",
                MAX_SCALE,
                MIN_SCALE,
                rule="autoscaling-max-below-min",
            )
        )
    found_max = lookup(anns, MAX_SCALE)
    if found_max and config.max_scale_limit:
        if high > config.max_scale_limit:
            errors.append(
                _out_of_bounds(
                    high, 1, config.max_scale_limit, found_max[0], "autoscaling-max-scale"
                )
            )
        if high == 0:
            errors.append(
                _error(
                    f"max-scale=0 (unlimited), must be less than {config.max_scale_limit}",
                    found_max[0],
                    rule="autoscaling-max-scale",
                )
            )
    if found := lookup(anns, ACTIVATION_SCALE):
        key, value = found
        rule = "autoscaling-activation-scale"
        try:
            activation = parse_int(value, 32)
        except ValueError:
            errors.append(_invalid(value, key, rule))
        else:
            if low > activation:
                errors.append(
                    _error(
                        f"min-scale={low} is greater than activation-scale={activation}",
                        key,
                        rule=rule,
                    )
                )
            elif high != 0 and high < activation:
                errors.append(
                    _error(
                        f"max-scale={high} is less than activation-scale={activation}",
                        key,
                        rule=rule,
                    )
                )
            elif activation < 2:
                errors.append(
                    _error(f"activation-scale={activation} must be greater than 1", key, rule=rule)
                )
    return errors


def _float_in(
    anns: Mapping[str, str], key: str, low: float, high: float, rule: str
) -> list[FieldError]:
    found = lookup(anns, key)
    if found is None:
        return []
    spelling, value = found
    try:
        number = parse_float(value)
    except ValueError:
        return [_invalid(value, spelling, rule)]
    if number < low or number > high:
        return [_out_of_bounds(value, format_float(low), format_float(high), spelling, rule)]
    return []


def _floats(anns: Mapping[str, str]) -> list[FieldError]:
    errors = _float_in(anns, PANIC_WINDOW, 1.0, 100.0, "autoscaling-panic-window")
    errors += _float_in(anns, PANIC_THRESHOLD, 110.0, 1000.0, "autoscaling-panic-threshold")
    if found := lookup(anns, TARGET):
        key, value = found
        try:
            number = parse_float(value)
        except ValueError:
            errors.append(_invalid(value, key, "autoscaling-target"))
        else:
            if number < TARGET_MIN:
                errors.append(
                    _error(
                        f"target {value} should be at least {format_float(TARGET_MIN)}",
                        key,
                        rule="autoscaling-target",
                    )
                )
    errors += _float_in(anns, TARGET_UTILIZATION, 1, 100, "autoscaling-target-utilization")
    if found := lookup(anns, TARGET_BURST_CAPACITY):
        key, value = found
        try:
            number = parse_float(value)
            # -1 means unlimited; NaN passes, as every comparison with it fails in Go too.
            bad = number < 0 and number != -1
        except ValueError:
            bad = True
        if bad:
            errors.append(_invalid(value, key, "autoscaling-target-burst-capacity"))
    return errors


def _window(anns: Mapping[str, str]) -> list[FieldError]:
    if (found := lookup(anns, WINDOW)) is None:
        return []
    value = found[1]
    rule = "autoscaling-window"
    try:
        nanos = parse_duration(value)
    except ValueError:
        return [_invalid(value, WINDOW, rule)]
    if nanos < WINDOW_MIN or nanos > WINDOW_MAX:
        return [
            _out_of_bounds(
                value, format_duration(WINDOW_MIN), format_duration(WINDOW_MAX), WINDOW, rule
            )
        ]
    if nanos % SECOND:
        return [_error("must be specified with at most second precision", WINDOW, rule=rule)]
    return []


def _retention(anns: Mapping[str, str]) -> list[FieldError]:
    if (found := lookup(anns, RETENTION)) is None:
        return []
    key, value = found
    rule = "autoscaling-scale-to-zero-retention"
    try:
        nanos = parse_duration(value)
    except ValueError:
        return [_invalid(value, key, rule)]
    if nanos < 0 or nanos > WINDOW_MAX:
        return [_out_of_bounds(value, format_duration(0), format_duration(WINDOW_MAX), key, rule)]
    return []


def _scale_down_delay(anns: Mapping[str, str]) -> list[FieldError]:
    if (found := lookup(anns, SCALE_DOWN_DELAY)) is None:
        return []
    key, value = found
    rule = "autoscaling-scale-down-delay"
    try:
        nanos = parse_duration(value)
    except ValueError:
        return [_invalid(value, key, rule)]
    if nanos < 0 or nanos > WINDOW_MAX:
        return [_out_of_bounds(value, format_duration(0), format_duration(WINDOW_MAX), key, rule)]
    if _round_to_second(nanos) != nanos:
        return [_error("must be specified with at most second precision", key, rule=rule)]
    return []


def _round_to_second(nanos: int) -> int:
    # Go's Duration.Round: halves away from zero.
    q, r = divmod(abs(nanos), SECOND)
    rounded = (q + (1 if 2 * r >= SECOND else 0)) * SECOND
    return rounded if nanos >= 0 else -rounded


def effective_class(config: ClusterConfig, anns: Mapping[str, str]) -> str:
    """The autoscaler class a revision gets: its ``class`` annotation, else the cluster's."""
    found = lookup(anns, CLASS)
    return found[1] if found else config.pod_autoscaler_class


def _metric(config: ClusterConfig, anns: Mapping[str, str]) -> list[FieldError]:
    if (found := lookup(anns, METRIC)) is None:
        return []
    metric = found[1]
    autoscaler = effective_class(config, anns)
    ok = (
        (autoscaler == KPA and metric in METRICS_KPA)
        or (autoscaler == HPA and metric != "")
        or autoscaler not in (KPA, HPA)  # other autoscalers are left alone
    )
    return [] if ok else [_invalid(metric, METRIC, "autoscaling-metric")]


def _aggregation(anns: Mapping[str, str]) -> list[FieldError]:
    # Knative checks the algorithm only when the class annotation says KPA explicitly.
    found_class = lookup(anns, CLASS)
    if not found_class or found_class[1] != KPA:
        return []
    found = lookup(anns, AGGREGATION)
    if found and found[1] and found[1] not in AGGREGATION_ALGORITHMS:
        return [_invalid(found[1], found[0], "autoscaling-aggregation-algorithm")]
    return []


def _initial_scale(config: ClusterConfig, anns: Mapping[str, str]) -> list[FieldError]:
    if (found := lookup(anns, INITIAL_SCALE)) is None:
        return []
    key, value = found
    rule = "autoscaling-initial-scale"
    try:
        number = parse_int(value, 64)  # strconv.Atoi
    except ValueError:
        return [_invalid(value, key, rule)]
    if number < 0:
        return [_invalid(value, f"{key} must be greater than 0", rule)]
    if number == 0 and not config.allow_zero_initial_scale:
        return [
            _invalid(value, f"{key}=0 not allowed by cluster", "autoscaling-initial-scale-zero")
        ]
    return []


def validate_autoscaling_annotations(
    annotations: Mapping[str, str], config: ClusterConfig
) -> list[FieldError]:
    """Knative's ``autoscaling.ValidateAnnotations``: every error for a revision
    template's annotations, in Knative's order, paths being the annotation keys."""
    return [
        *_class(annotations),
        *_scale_bounds(config, annotations),
        *_floats(annotations),
        *_window(annotations),
        *_retention(annotations),
        *_scale_down_delay(annotations),
        *_metric(config, annotations),
        *_aggregation(annotations),
        *_initial_scale(config, annotations),
    ]
