"""Knative's decider unit tests, translated into data: our `Decider` must give the same
``ScaleResult`` as knative/serving ``pkg/autoscaler/scaling/autoscaler_test.go`` at
98e5ef90aa7033797aa0a61ef97f3ff7e49a3944 (the tests' spec: total = target / 75%, panic
threshold 2, scale rates 10, stable window 60 s, reachable)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import pytest

from harness.knative.kpa import Decider, KpaModel, ScaleResult
from harness.knative.kpa_settings import ScalingSettings

UTILIZATION = 0.75
STABLE_WINDOW = 60.0
TICK = 2.0


def spec(target: float, burst: float, **changes: object) -> ScalingSettings:
    base = ScalingSettings(
        target=target,
        total=target / UTILIZATION,
        target_burst_capacity=burst,
        panic_threshold=2.0,
        max_scale_up_rate=10.0,
        max_scale_down_rate=10.0,
        activator_capacity=150.0,
        stable_window_s=STABLE_WINDOW,
        reachable=True,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def ebc(target: float, burst: float, panic: float, pods: float) -> int:
    """Knative's expectedEBC: floor(target / 75% x pods - burst - panic)."""
    return math.floor(target / UTILIZATION * pods - burst - panic)


def check(got: ScaleResult, pods: int, excess: int) -> None:
    # Knative compares the excess burst capacity within +-1 (float rounding).
    assert got.desired_pods == pods
    assert abs(got.excess_burst_capacity - excess) <= 1, (got, excess)


@dataclass(frozen=True)
class Case:
    """One row of TestAutoscalerScale."""

    label: str
    target: float
    burst: float
    stable: float
    panic: float
    ready: int
    want: int
    want_ebc: int
    panic_age: float | None = None  # seconds since panic began, with max_panic_pods
    max_panic_pods: int = 0
    changes: dict[str, object] = field(default_factory=dict)


SCALE_TABLE = [
    Case("NoDataAtZeroNoAutoscale", 10, 100, 0, 0, 1, 0, ebc(10, 100, 0, 1)),
    Case("StableModeUnlimitedTBC", 181, -1, 21, 26, 1, 1, -1),
    Case("0TBC", 10, 0, 50, 49, 1, 5, 0),
    Case("StableModeNoChange", 10, 100, 50, 50, 1, 5, ebc(10, 100, 50, 1)),
    Case("PanicStableLargerThanPanic", 1, 100, 50, 30, 5, 50, ebc(1, 100, 30, 5), 5.0, 5),
    Case("PanicStableLessThanPanic", 1, 100, 20, 30, 5, 30, ebc(1, 100, 30, 5), 5.0, 5),
    Case("StableModeNoChangeAlreadyScaled", 10, 100, 50, 50, 5, 5, ebc(10, 100, 50, 5)),
    Case(
        "StableModeIncreaseWithSmallScaleUpRate",
        1,
        1982,
        3,
        3.1,
        2,
        3,
        ebc(1, 1982, 3.1, 2),
        changes={"max_scale_up_rate": 1.1},
    ),
    Case(
        "StableModeDecreaseWithSmallScaleDownRate",
        10,
        1982,
        1,
        1,
        100,
        90,
        ebc(10, 1982, 1, 100),
        changes={"max_scale_down_rate": 1.1},
    ),
    Case(
        "StableModeDecreaseNonReachable",
        10,
        1982,
        1,
        1,
        100,
        1,
        ebc(10, 1982, 1, 100),
        changes={"max_scale_down_rate": 1.1, "reachable": False},
    ),
    Case("PanicModeDoublePodCount", 10, 84, 50, 100, 1, 10, ebc(10, 84, 100, 1)),
]


@pytest.mark.parametrize("case", SCALE_TABLE, ids=lambda c: c.label)
def test_autoscaler_scale_table(case: Case) -> None:
    now = 1000.0
    decider = Decider(spec(case.target, case.burst, **case.changes), ready_pods=1, now=now)
    if case.panic_age is not None:
        decider.panic_time = now - case.panic_age
        decider.max_panic_pods = case.max_panic_pods
    check(decider.scale(now, case.ready, case.stable, case.panic), case.want, case.want_ebc)


# A sequence: (seconds after start, ready pods, stable, panic, want pods, want ebc or None,
# panic state after: "at" = began/extended now, "kept" = unchanged, "off", or None).
Step = tuple[float, int, float, float, int, int | None, str | None]

SEQUENCES: dict[str, tuple[ScalingSettings, list[Step]]] = {
    # TestAutoscalerStableModeIncreaseWithConcurrencyDefault
    "StableModeIncreaseWithConcurrencyDefault": (
        spec(10, 101),
        [
            (0, 1, 50, 10, 5, ebc(10, 101, 10, 1), None),
            (0, 1, 100, 10, 10, ebc(10, 101, 10, 1), None),
        ],
    ),
    # TestAutoscalerStableModeIncreaseWithRPS (the rps windows feed the same rule)
    "StableModeIncreaseWithRPS": (
        spec(10, 101, metric="rps"),
        [
            (0, 1, 50, 50, 5, ebc(10, 101, 50, 1), None),
            (0, 1, 100, 99, 10, ebc(10, 101, 99, 1), None),
        ],
    ),
    # TestAutoscalerUnpanicAfterSlowIncrease
    "UnpanicAfterSlowIncrease": (
        spec(1, 98),
        [
            (0, 10, 11, 25, 25, ebc(1, 98, 25, 10), "at"),
            (STABLE_WINDOW / 2, 40, 30, 41, 41, ebc(1, 98, 41, 40), "kept"),
            (STABLE_WINDOW + TICK, 55, 50, 56, 50, ebc(1, 98, 56, 55), "off"),
        ],
    ),
    # TestAutoscalerExtendPanicWindow
    "ExtendPanicWindow": (
        spec(1, 98),
        [
            (0, 10, 11, 25, 25, ebc(1, 98, 25, 10), "at"),
            (STABLE_WINDOW / 2, 40, 30, 80, 80, ebc(1, 98, 80, 40), "at"),
        ],
    ),
    # TestAutoscalerStableModeDecrease
    "StableModeDecrease": (
        spec(10, 98),
        [
            (0, 8, 100, 100, 10, ebc(10, 98, 100, 8), None),
            (0, 8, 50, 50, 5, ebc(10, 98, 50, 8), None),
        ],
    ),
    # TestAutoscalerStableModeNoTrafficScaleToZero
    "StableModeNoTrafficScaleToZero": (
        spec(10, 75),
        [(0, 1, 1, 0, 1, ebc(10, 75, 0, 1), None), (0, 1, 0, 0, 0, ebc(10, 75, 0, 1), None)],
    ),
    # TestAutoscalerActivationScale
    "ActivationScale": (
        spec(10, 75, activation_scale=2),
        [(0, 1, 0, 0, 0, ebc(10, 75, 0, 1), None), (0, 1, 1, 0, 2, ebc(10, 75, 0, 1), None)],
    ),
    # TestAutoscalerPanicModeExponentialTrackAndStabilize
    "PanicModeExponentialTrackAndStabilize": (
        spec(1, 101),
        [
            (0, 1, 6, 6, 6, ebc(1, 101, 6, 1), None),
            (0, 6, 36, 36, 36, ebc(1, 101, 36, 6), "at"),
            (1, 36, 216, 216, 216, ebc(1, 101, 216, 36), "at"),
            (1, 216, 1296, 1296, 1296, ebc(1, 101, 1296, 216), "at"),
            (2, 1296, 1296, 1296, 1296, ebc(1, 101, 1296, 1296), None),
        ],
    ),
    # TestAutoscalerPanicThenUnPanicScaleDown
    "PanicThenUnPanicScaleDown": (
        spec(10, 93),
        [
            (0, 1, 100, 100, 10, ebc(10, 93, 100, 1), None),
            (0, 10, 100, 1000, 100, ebc(10, 93, 1000, 10), "at"),
            (30, 10, 1, 1, 100, ebc(10, 93, 1, 10), "kept"),
            (61, 10, 1, 1, 1, ebc(10, 93, 1, 10), "off"),
        ],
    ),
    # TestAutoscalerRateLimitScaleUp
    "RateLimitScaleUp": (
        spec(10, 61),
        [
            (0, 1, 1000, 1001, 10, ebc(10, 61, 1001, 1), None),
            (0, 10, 1000, 1001, 100, ebc(10, 61, 1001, 10), None),
        ],
    ),
    # TestAutoscalerRateLimitScaleDown
    "RateLimitScaleDown": (
        spec(10, 61),
        [
            (0, 100, 1, 1, 10, ebc(10, 61, 1, 100), None),
            (0, 10, 1, 1, 1, ebc(10, 61, 1, 10), None),
        ],
    ),
    # TestAutoscalerUseOnePodAsMinimumIfEndpointsNotFound
    "UseOnePodAsMinimumIfEndpointsNotFound": (
        spec(10, 81),
        [(0, 0, 1000, 888, 10, ebc(10, 81, 888, 0), None)],
    ),
    # TestAutoscalerScaleDownDelay "simple" then "gradual" (same decider; the spec has no
    # TotalValue or burst capacity there: ebc not compared)
    "ScaleDownDelay": (
        ScalingSettings(
            target=10,
            max_scale_down_rate=10,
            max_scale_up_rate=10,
            panic_threshold=100,
            scale_down_delay_s=300,
        ),
        [
            (2, 0, 40, 40, 4, None, None),
            (300, 0, 0, 0, 4, None, None),
            (302, 0, 0, 0, 0, None, None),
            (540, 0, 40, 40, 4, None, None),
            (600, 0, 30, 30, 4, None, None),
            (660, 0, 0, 0, 4, None, None),
            (840, 0, 0, 0, 3, None, None),
            (900, 0, 0, 0, 0, None, None),
        ],
    ),
    # TestAutoscalerScaleDownDelayZero: no delay window, the most recent decision wins
    "ScaleDownDelayZero": (
        ScalingSettings(
            target=10, max_scale_down_rate=10, max_scale_up_rate=10, panic_threshold=100
        ),
        [(0, 0, 40, 40, 4, None, None), (0.5, 0, 20, 20, 2, None, None)],
    ),
}


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_autoscaler_sequences(name: str) -> None:
    settings, steps = SEQUENCES[name]
    start = 0.0
    decider = Decider(settings, ready_pods=1, now=start)
    for offset, ready, stable, panic, want, want_ebc, panic_state in steps:
        before = decider.panic_time
        now = start + offset
        got = decider.scale(now, ready, stable, panic)
        assert got.desired_pods == want, (name, offset, got)
        if want_ebc is not None:
            assert abs(got.excess_burst_capacity - want_ebc) <= 1, (name, offset, got)
        if panic_state == "at":
            assert decider.panic_time == now
        elif panic_state == "kept":
            assert decider.panic_time == before is not None
        elif panic_state == "off":
            assert decider.panic_time is None


def test_scale_down_delay_is_skipped_for_an_unreachable_revision() -> None:
    # TestAutoscalerScaleDownDelayNotReachable
    settings = ScalingSettings(
        target=10, max_scale_down_rate=10, max_scale_up_rate=10, panic_threshold=100
    )
    decider = Decider(dataclasses.replace(settings, scale_down_delay_s=300), 0, 0.0)
    assert decider.scale(2, 0, 40, 40).desired_pods == 4
    assert decider.scale(60, 0, 0, 0).desired_pods == 4
    decider.update(dataclasses.replace(settings, scale_down_delay_s=300, reachable=False))
    assert decider.scale(2, 0, 0, 0).desired_pods == 0


def test_update_target_takes_effect_at_the_next_tick() -> None:
    # TestAutoscalerUpdateTarget
    decider = Decider(spec(10, 77), 1, 0.0)
    check(decider.scale(0, 1, 100, 101), 10, ebc(10, 77, 101, 1))
    decider.update(
        dataclasses.replace(
            spec(1, 71), activator_capacity=21, max_scale_down_rate=10, max_scale_up_rate=10
        )
    )
    check(decider.scale(0, 10, 100, 101), 100, ebc(1, 71, 101, 10))


@pytest.mark.parametrize("ready", [0, 1, 2])
def test_a_decider_started_with_more_than_one_ready_pod_starts_in_panic(ready: int) -> None:
    # TestStartInPanicMode and TestNewFail (a failed count is 0 pods)
    decider = Decider(
        ScalingSettings(target=100, total=120, target_burst_capacity=11, panic_threshold=2.2),
        ready_pods=ready,
        now=5.0,
    )
    assert decider.max_panic_pods == ready
    assert (decider.panic_time is not None) == (ready > 1)


def test_no_data_no_autoscale() -> None:
    # TestAutoscalerNoDataNoAutoscale: no metrics, no decision (the last one stays)
    model = KpaModel(spec(10, 100))
    assert model.decide(10.0, 1) is None
    model.record(10.2, 35.0)
    decision = model.decide(10.5, 1)
    assert decision is not None and decision.desired_pods == 4
    # More than a stable window without data: Knative's IsEmpty, the decision stays.
    assert model.decide(10.5 + STABLE_WINDOW + 2, 1) is decision
