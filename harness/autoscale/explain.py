"""``harness autoscale explain``: a Service's effective KPA settings in plain words.

Each knob with its value and where it came from (the annotation, or the default of
``config-autoscaler``), and one sentence on what it does for this Service, e.g. "target
7 concurrent requests per pod (10 x 70%); panic when 6 s of load asks for 2x the ready
pods". Pure: settings and knobs in, lines out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.autoscale.variants import ServiceKnobs
from harness.knative import autoscaling as a
from harness.knative.kpa_settings import AutoscalerConfig, ScalingSettings


def _g(value: float) -> str:
    return f"{value:g}"


def _source(knobs: ServiceKnobs, key: str) -> str:
    found = a.lookup(knobs.annotations, key)
    return f"annotation {found[0].split('/', 1)[1]}" if found else "default"


def explain_lines(
    knobs: ServiceKnobs, settings: ScalingSettings, config: AutoscalerConfig
) -> list[tuple[str, str, str, str]]:
    """(knob, value, source, meaning) rows for the Service."""
    s = settings
    unit = "requests per second" if s.metric == "rps" else "concurrent requests"
    if s.metric == "rps":
        total_from = "target" if a.lookup(knobs.annotations, a.TARGET) else "default 200"
    elif a.lookup(knobs.annotations, a.TARGET):
        total_from = "target"
        if knobs.container_concurrency and s.total == knobs.container_concurrency:
            total_from = "target, capped at containerConcurrency"
    elif knobs.container_concurrency:
        total_from = "containerConcurrency"
    else:
        total_from = "default 100"
    panic_pct = s.panic_window_s / s.stable_window_s * 100
    rows = [
        ("metric", s.metric, _source(knobs, a.METRIC), f"pods are sized by {unit}"),
        (
            "target",
            _g(s.target),
            f"{total_from} x {_source(knobs, a.TARGET_UTILIZATION)} utilization",
            f"target {_g(s.target)} {unit} per pod ({_g(s.total)} x {_g(s.utilization * 100)}%)",
        ),
        (
            "window",
            f"{_g(s.stable_window_s)}s",
            _source(knobs, a.WINDOW),
            f"pods follow the average load of the last {_g(s.stable_window_s)} s",
        ),
        (
            "panic-window-percentage",
            _g(panic_pct),
            _source(knobs, a.PANIC_WINDOW),
            f"panic window {_g(s.panic_window_s)} s",
        ),
        (
            "panic-threshold-percentage",
            _g(s.panic_threshold * 100),
            _source(knobs, a.PANIC_THRESHOLD),
            f"panic when {_g(s.panic_window_s)} s of load asks for {_g(s.panic_threshold)}x "
            f"the ready pods; in panic pods never go down, until {_g(s.stable_window_s)} s "
            "pass below that",
        ),
        (
            "min-scale",
            str(s.min_scale),
            _source(knobs, a.MIN_SCALE),
            "scales to zero when idle"
            if s.min_scale == 0 and s.enable_scale_to_zero
            else f"never fewer than {max(s.min_scale, 1)} pod(s)",
        ),
        (
            "max-scale",
            str(s.max_scale),
            _source(knobs, a.MAX_SCALE),
            "no upper bound" if s.max_scale == 0 else f"never more than {s.max_scale} pods",
        ),
        (
            "initial-scale",
            str(s.initial_scale),
            _source(knobs, a.INITIAL_SCALE),
            f"a new revision starts with {s.initial_scale} pod(s)",
        ),
        (
            "activation-scale",
            str(s.activation_scale or 1),
            _source(knobs, a.ACTIVATION_SCALE),
            f"waking from zero starts at least {max(s.activation_scale, 1)} pod(s)",
        ),
        (
            "scale-down-delay",
            f"{_g(s.scale_down_delay_s)}s",
            _source(knobs, a.SCALE_DOWN_DELAY),
            "scales down as soon as the windows allow"
            if s.scale_down_delay_s == 0
            else f"keeps the highest count of the last {_g(s.scale_down_delay_s)} s",
        ),
        (
            "target-burst-capacity",
            _g(s.target_burst_capacity),
            _source(knobs, a.TARGET_BURST_CAPACITY),
            _burst_sentence(s),
        ),
        (
            "scale-to-zero-pod-retention-period",
            f"{_g(s.scale_to_zero_retention_s)}s",
            _source(knobs, a.RETENTION),
            _zero_sentence(s),
        ),
        (
            "max scale rates",
            f"x{_g(s.max_scale_up_rate)} / ÷{_g(s.max_scale_down_rate)}",
            "config-autoscaler",
            f"per decision (every 2 s) at most {_g(s.max_scale_up_rate)}x the ready pods, "
            f"at least 1/{_g(s.max_scale_down_rate)} of them",
        ),
    ]
    if knobs.container_concurrency:
        rows.insert(
            1,
            (
                "containerConcurrency",
                str(knobs.container_concurrency),
                "spec",
                f"each pod serves at most {knobs.container_concurrency} requests at once; "
                "more wait in its queue-proxy or the activator",
            ),
        )
    del config  # the settings already hold the cluster's defaults
    return rows


def _burst_sentence(s: ScalingSettings) -> str:
    if s.target_burst_capacity == -1:
        return "the activator is always in the request path"
    if s.target_burst_capacity == 0:
        return "the activator is in the path only while the revision is at zero pods"
    return (
        f"the activator stays in the path until the ready pods can absorb "
        f"{_g(s.target_burst_capacity)} more {('requests/s' if s.metric == 'rps' else 'requests')} "
        "than the panic window's load"
    )


def _zero_sentence(s: ScalingSettings) -> str:
    if not s.enable_scale_to_zero:
        return "scale to zero is disabled on this cluster"
    if s.min_scale > 0:
        return "never scales to zero (min-scale)"
    wait = max(s.scale_to_zero_grace_s, s.scale_to_zero_retention_s)
    return (
        f"after {_g(s.stable_window_s)} s without load the last pod stays at least "
        f"{_g(wait)} s more (grace {_g(s.scale_to_zero_grace_s)} s, retention "
        f"{_g(s.scale_to_zero_retention_s)} s)"
    )


def explain_document(
    knobs: ServiceKnobs,
    settings: ScalingSettings,
    config: AutoscalerConfig,
    warnings: Sequence[Any] = (),
) -> dict[str, Any]:
    """``explain --format json``."""
    return {
        "service": knobs.where,
        "knobs": [
            {"knob": k, "value": v, "source": src, "meaning": m}
            for k, v, src, m in explain_lines(knobs, settings, config)
        ],
        "warnings": [
            {"field": w.field, "message": w.message, "rule": w.rule, "line": w.line}
            for w in warnings
        ],
    }
