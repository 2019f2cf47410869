"""Knative's window tests, translated: `WindowAverage` and `WeightedWindowAverage`
against knative/serving ``pkg/autoscaler/aggregation/bucketing_test.go`` at
98e5ef90aa7033797aa0a61ef97f3ff7e49a3944, plus our own cases for `MaxWindow`. Where Knative's
``WindowAverage`` returns 0 for a window without data its ``IsEmpty`` is true, which the
decider treats as no data: ours returns None there."""

from __future__ import annotations

import pytest

from harness.knative.kpa import KpaModel
from harness.knative.kpa_settings import ScalingSettings
from harness.knative.kpa_windows import (
    MaxWindow,
    WeightedWindowAverage,
    WindowAverage,
    round_digits,
    smoothing_coefficient,
)

NOW = 1000.3  # not on a bucket boundary, as Knative's time.Now()


def test_window_average_sequence() -> None:
    # TestTimedFloat64BucketsWindowAverage
    w = WindowAverage(5.0)
    w.record(NOW, 1)
    assert w.average(NOW) == 1.0  # firstWrite: not 1/5
    for i in range(1, 5):
        w.record(NOW + i, i + 1)
    assert w.average(NOW + 4) == 15 / 5
    assert w.average(NOW + 3.6) == 15 / 5  # now lags behind
    assert w.average(NOW + 6) == (15 - 1 - 2) / (5 - 2)  # a short hole
    assert w.average(NOW + 10) is None  # a long hole (Knative: IsEmpty, average 0)
    w.record(NOW + 6, 91)
    assert w.average(NOW + 6) == (15 - 1 - 2 + 91) / 5
    later = NOW + 60
    w.record(later, 1984)
    assert w.average(later) == 1984
    w.record(later - 3, 4)  # an earlier time
    assert w.average(later) == (4 + 1984) / 4
    later += 1
    w.record(later, 5)
    assert w.average(later) == (4 + 1984 + 5) / 5
    w.record(later - 3, 10)
    assert w.average(later) == (4 + 10 + 1984 + 5) / 5
    w.record(later - 6, 10)  # too early: ignored
    w.record(later - 5, 10)  # exactly a window behind: ignored
    assert w.average(later) == (4 + 10 + 1984 + 5) / 5
    w.record(later + 5, 10)  # no data for exactly a window: starts afresh
    assert w.average(later + 5) == 10


def test_window_average_holes() -> None:
    # Our own case, in the spirit of TestTimedFloat64BucketsHoles: a skipped bucket is 0.
    w = WindowAverage(5.0)
    for i in range(5):
        w.record(NOW + i, float(i + 1))
    assert w.average(NOW + 4) == 3.0
    w.record(NOW + 6, 7.0)  # bucket 5 skipped: counts as 0
    assert w.average(NOW + 6) == round_digits((3 + 4 + 5 + 0 + 7) / 5)


@pytest.mark.parametrize(("buckets", "want"), [(100, 0.2), (60, 0.2), (40, 0.20567), (6, 0.78456)])
def test_smoothing_coefficient(buckets: int, want: float) -> None:
    # TestComputeDecayMultiplier
    assert smoothing_coefficient(buckets) == pytest.approx(want, abs=1e-4)


def test_weighted_average_sequence() -> None:
    # TestTimedFloat64BucketsWeightedAverage
    w = WeightedWindowAverage(5.0)
    m = w.coefficient
    w.record(NOW, 2)
    want = 2 * m
    assert w.average(NOW) == pytest.approx(want)
    want *= 1 - m  # a second later, no write
    assert w.average(NOW + 1) == pytest.approx(want)
    w.record(NOW + 1, 2)
    want += 2 * m
    assert w.average(NOW + 1) == pytest.approx(want)
    for i in range(5):
        w.record(NOW + 2 + i, float(i + 2))
    want = sum(v * m * (1 - m) ** k for k, v in enumerate([6, 5, 4, 3, 2]))
    assert w.average(NOW + 6) == pytest.approx(want)
    assert w.average(NOW + 16) is None  # an empty window (Knative: 0)


def test_the_aggregation_annotation_picks_the_weighted_windows() -> None:
    a = "autoscaling.knative.dev/"
    for value in ("weighted-exponential", "weightedExponential"):
        settings = ScalingSettings.from_revision({a + "metric-aggregation-algorithm": value})
        assert settings is not None and settings.aggregation == "weighted-exponential"
    linear = KpaModel(ScalingSettings(target=10))
    weighted = KpaModel(ScalingSettings(target=10, aggregation="weighted-exponential"))
    for t in range(30):
        load = 100.0 if t >= 25 else 0.0  # a burst at the end of the window
        linear.record(t + 0.5, load)
        weighted.record(t + 0.5, load)
    calm, quick = linear.decide(29.6, 1), weighted.decide(29.6, 1)
    assert calm is not None and quick is not None
    # The weighted stable window follows the recent burst much more than the average.
    assert quick.stable > calm.stable


def test_max_window() -> None:
    # Our own case for max.TimeWindow: the largest value within the duration, 2 s buckets.
    w = MaxWindow(10.0, 2.0)
    assert w.current() == 0
    w.record(0, 5)
    w.record(2, 3)
    assert w.current() == 5
    w.record(4, 1)
    w.record(4, 2)  # same bucket: the larger stays
    assert w.current() == 5
    w.record(10, 1)  # 5 buckets later: 5 is out
    assert w.current() == 3
    w.record(14, 0)
    assert w.current() == 1
    w.record(16, 9)
    assert w.current() == 9
