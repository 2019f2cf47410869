"""Counter deltas from raw Prometheus series: zero point, resets, late series."""

from __future__ import annotations

from harness.metrics.counters import CounterTracker, SeriesSample


def s(value: float, **labels: str) -> SeriesSample:
    return SeriesSample.of(labels, value)


def test_first_observation_is_the_zero_point() -> None:
    t = CounterTracker()
    t.observe([s(1000, pod="a")])
    assert t.total() == 0
    t.observe([s(1040, pod="a")])
    assert t.total() == 40


def test_counter_reset_counts_the_new_value_only() -> None:
    t = CounterTracker()
    t.observe([s(500, pod="a")])
    t.observe([s(520, pod="a")])
    t.observe([s(7, pod="a")])  # process restarted and counted 7 since
    t.observe([s(10, pod="a")])
    assert t.total() == 20 + 7 + 3


def test_series_created_during_the_run_count_in_full() -> None:
    t = CounterTracker()
    t.observe([])  # revision had no traffic yet: no series at all
    t.observe([s(12, code="200")])
    t.observe([s(15, code="200"), s(2, code="500")])
    assert t.total() == 17
    assert t.total({"code": "500"}) == 2


def test_by_label_sums_over_other_labels() -> None:
    t = CounterTracker()
    t.observe([s(0, le="5", pod="a"), s(0, le="5", pod="b"), s(0, le="+Inf", pod="a")])
    t.observe([s(3, le="5", pod="a"), s(4, le="5", pod="b"), s(9, le="+Inf", pod="a")])
    assert t.by_label("le") == {"5": 7, "+Inf": 9}


def test_same_sample_twice_adds_nothing() -> None:
    t = CounterTracker()
    t.observe([s(1, pod="a")])
    t.observe([s(5, pod="a")])
    t.observe([s(5, pod="a")])
    assert t.total() == 4
