"""Knative's target tests, translated into data: `resolve_metric_target` must match
knative/serving ``pkg/reconciler/autoscaling/resources/target_test.go`` at
98e5ef90aa7033797aa0a61ef97f3ff7e49a3944 (its config: concurrency utilization 100%, rps
utilization 70%), and the cluster config's parsing and validation ``config.go``'s."""

from __future__ import annotations

import dataclasses

import pytest

from harness.knative.kpa_settings import (
    AutoscalerConfig,
    ScalingSettings,
    panic_window_s,
    resolve_metric_target,
    revision_scale,
)

A = "autoscaling.knative.dev/"
TEST_CONFIG = AutoscalerConfig(container_concurrency_target_fraction=1.0, target_utilization=0.7)

# (name, containerConcurrency, annotations, concurrency utilization or None, target, total)
CASES: list[tuple[str, int, dict[str, str], float | None, float, float]] = [
    ("defaults", 0, {}, None, 100, 100),
    ("default CC + 80% TU", 0, {}, 0.8, 80, 100),
    (
        "CC 12 and TU=80%, but TU annotation 75%",
        12,
        {"target-utilization-percentage": "75"},
        0.8,
        9,
        12,
    ),
    ("CC 10 and TU=80%", 10, {}, 0.8, 8, 10),
    ("CC 1 and TU=80%", 1, {}, 0.8, 0.8, 1),
    ("CC 1", 1, {}, None, 1, 1),
    ("CC 10", 10, {}, None, 10, 10),
    ("target annotation 1", 0, {"target": "1"}, None, 1, 1),
    ("target annotation 1 and TU=0.1%", 0, {"target": "1"}, 0.001, 0.01, 1),
    ("target annotation 1 and TU=75%", 0, {"target": "1"}, 0.75, 0.75, 1),
    ("target annotation 10 and TU=75%", 0, {"target": "10"}, 0.75, 7.5, 10),
    ("CC greater than target annotation", 10, {"target": "1"}, None, 1, 1),
    ("target annotation greater than default", 0, {"target": "500"}, None, 500, 500),
    ("target annotation greater than CC (ignored)", 1, {"target": "10"}, None, 1, 1),
    ("RPS: defaults", 1, {"metric": "rps"}, None, 140, 200),
    ("RPS: target annotation 1", 0, {"metric": "rps", "target": "1"}, None, 0.7, 1),
    (
        "RPS: TU annotation 75%",
        0,
        {"metric": "rps", "target-utilization-percentage": "75"},
        None,
        150,
        200,
    ),
    ("RPS: target greater than default", 0, {"metric": "rps", "target": "300"}, None, 210, 300),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
def test_resolve_metric_target(
    case: tuple[str, int, dict[str, str], float | None, float, float],
) -> None:
    _, cc, annotations, fraction, want_target, want_total = case
    config = TEST_CONFIG
    if fraction is not None:
        config = dataclasses.replace(config, container_concurrency_target_fraction=fraction)
    anns = {A + k: v for k, v in annotations.items()}
    metric = "rps" if annotations.get("metric") == "rps" else "concurrency"
    target, total, _ = resolve_metric_target(anns, cc, metric, config)
    assert (target, total) == (pytest.approx(want_target), pytest.approx(want_total))
    settings = ScalingSettings.from_revision(anns, cc, config)
    assert settings is not None and settings.target == pytest.approx(want_target)


def test_config_from_map_reads_keys_and_percentages() -> None:
    config = AutoscalerConfig.from_map(
        {
            "container-concurrency-target-percentage": "80",
            "stable-window": "2m",
            "enable-scale-to-zero": "false",
            "scale-to-zero-grace-period": "45s",
            "max-scale": "10",
        }
    )
    assert config.container_concurrency_target_fraction == pytest.approx(0.8)
    assert (config.stable_window_s, config.scale_to_zero_grace_period_s) == (120.0, 45.0)
    assert not config.enable_scale_to_zero and config.max_scale == 10
    # A legacy fraction stays a fraction.
    legacy = AutoscalerConfig.from_map({"container-concurrency-target-percentage": "0.5"})
    assert legacy.container_concurrency_target_fraction == 0.5


@pytest.mark.parametrize(
    "data",
    [
        {"stable-window": "5s"},
        {"stable-window": "61500ms"},
        {"scale-to-zero-grace-period": "0s"},
        {"max-scale-up-rate": "1"},
        {"target-burst-capacity": "-2"},
        {"panic-window-percentage": "0.5"},
        {"initial-scale": "0"},
        {"min-scale": "3", "max-scale": "2"},
        {"max-scale-limit": "5"},  # a limit needs a default max-scale
        {"enable-scale-to-zero": "yes"},
        {"no-such-key": "1"},
    ],
)
def test_config_from_map_refuses_what_knative_refuses(data: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        AutoscalerConfig.from_map(data)


def test_panic_window_is_rounded_to_the_second_and_at_least_one_bucket() -> None:
    assert panic_window_s(60, 10) == 6
    assert panic_window_s(25, 10) == 3  # 2.5 s rounds half away from zero
    assert panic_window_s(6, 1) == 1
    settings = ScalingSettings.from_revision({A + "window": "13s"})
    assert settings is not None and settings.panic_window_s == 1.0


def test_cluster_defaults_fill_what_the_annotations_leave() -> None:
    config = AutoscalerConfig(min_scale=2, max_scale=8, initial_scale=3, scale_down_delay_s=30)
    assert revision_scale({}, config) == (2, 8, 3)
    assert revision_scale({A + "min-scale": "1"}, config) == (1, 8, 3)
    settings = ScalingSettings.from_revision({A + "activation-scale": "3"}, 0, config)
    assert settings is not None
    assert (settings.scale_down_delay_s, settings.activation_scale) == (30.0, 3)
    retained = ScalingSettings.from_revision({A + "scale-to-zero-pod-retention-period": "90s"})
    assert retained is not None and retained.scale_to_zero_retention_s == 90.0
    hpa = AutoscalerConfig(pod_autoscaler_class="hpa.autoscaling.knative.dev")
    assert ScalingSettings.from_revision({}, 0, hpa) is None
