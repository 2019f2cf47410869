"""Histogram: layout, recording, quantiles, algebra and serialisation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.histogram import (
    FINE_HIGH_MS,
    FINE_LOW_MS,
    FINE_RELATIVE_ERROR,
    KNATIVE_BOUNDS_MS,
    Histogram,
)

KNATIVE_CUMULATIVE = [0, 3, 10, 100, 300, 600, 800, 900, 950]


def knative_histogram() -> Histogram:
    return Histogram.from_buckets([*KNATIVE_BOUNDS_MS[:9], math.inf], [*KNATIVE_CUMULATIVE, 1000])


def test_fine_layout_has_bounded_size_and_covers_range() -> None:
    h = Histogram.empty()
    bounds = h.upper_bounds
    assert bounds[0] == FINE_LOW_MS
    assert bounds[-2] == FINE_HIGH_MS
    assert math.isinf(bounds[-1])
    assert len(bounds) < 800
    assert FINE_RELATIVE_ERROR <= 0.01
    assert np.all(
        bounds[1:-1] / bounds[:-2] <= (1 + FINE_RELATIVE_ERROR) / (1 - FINE_RELATIVE_ERROR) + 1e-12
    )


def test_fine_layout_contains_knative_bounds() -> None:
    h = Histogram.empty()
    for bound in KNATIVE_BOUNDS_MS:
        h.bound_index(bound)


def test_memory_does_not_grow_with_count() -> None:
    h = Histogram.empty()
    size = h.counts.nbytes
    h.record_many(np.full(100_000, 42.0))
    h.record(7.0, count=10**9)
    assert h.counts.nbytes == size
    assert h.count == 100_000 + 10**9


def test_record_and_record_many_agree_including_exact_bounds() -> None:
    values = np.concatenate([Histogram.empty().upper_bounds[:-1], [0.0, -1.0, 1e6, 0.05, 3.3]])
    one_by_one = Histogram.empty()
    for value in values.tolist():
        one_by_one.record(value)
    assert one_by_one == Histogram.from_samples(values)


def test_value_on_a_bound_counts_in_that_bucket() -> None:
    h = Histogram.from_samples([10.0, 10.0000001])
    assert h.count_above(10.0) == 1


def test_record_rejects_nan() -> None:
    with pytest.raises(ValueError, match="NaN"):
        Histogram.empty().record(math.nan)
    with pytest.raises(ValueError, match="NaN"):
        Histogram.empty().record_many(np.array([1.0, math.nan]))


def test_sum_mean_min_max_of_recorded_values() -> None:
    h = Histogram.from_samples([1.0, 2.0, 6.0])
    assert h.sum == pytest.approx(9.0)
    assert h.mean == pytest.approx(3.0)
    assert (h.min, h.max) == (1.0, 6.0)


def test_empty_histogram_reads_as_nan_and_none() -> None:
    h = Histogram.empty()
    assert h.count == 0
    assert math.isnan(h.quantile(0.5))
    assert math.isnan(h.mean)
    assert h.min is None and h.max is None


def test_quantile_matches_inverted_cdf_within_one_percent() -> None:
    rng = np.random.default_rng(7)
    values = rng.lognormal(math.log(50), 1.0, 20_000)
    h = Histogram.from_samples(values)
    for q in (0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0):
        exact = float(np.quantile(values, q, method="inverted_cdf"))
        assert h.quantile(q) == pytest.approx(exact, rel=0.01)


def test_from_buckets_reads_prometheus_cumulative_counts() -> None:
    h = knative_histogram()
    assert h.count == 1000
    assert h.counts.tolist() == [0, 3, 7, 90, 200, 300, 200, 100, 50, 50]
    assert h.cumulative().tolist() == [*KNATIVE_CUMULATIVE, 1000]
    assert h.count_above(100.0) == 200
    assert h.min is None and h.max is None


def test_from_buckets_adds_overflow_bucket_from_count() -> None:
    h = Histogram.from_buckets([5.0, 10.0], [1, 4], count=6)
    assert math.isinf(h.upper_bounds[-1])
    assert h.counts.tolist() == [1, 3, 2]


def test_from_buckets_interpolates_quantiles_like_prometheus() -> None:
    h = Histogram.from_buckets([10.0, 20.0, math.inf], [50, 100, 100])
    assert h.quantile(0.5) == pytest.approx(10.0)
    assert h.quantile(0.75) == pytest.approx(15.0)


@pytest.mark.parametrize(
    ("bounds", "cumulative", "message"),
    [
        ([5.0, 10.0], [3, 2], "non-decreasing"),
        ([10.0, 5.0], [1, 2], "strictly increasing"),
        ([5.0, 10.0], [1.5, 2], "integers"),
        ([5.0], [1, 2], "cumulative counts"),
    ],
)
def test_from_buckets_rejects_bad_input(
    bounds: list[float], cumulative: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Histogram.from_buckets(bounds, cumulative)


def test_count_above_requires_a_bucket_bound() -> None:
    with pytest.raises(ValueError, match="not a bucket bound"):
        knative_histogram().count_above(12.0)


def test_merge_of_fine_and_knative_coarsens_onto_knative_bounds() -> None:
    fine = Histogram.from_samples([3.0, 7.0, 120.0, 500.0])
    merged = fine + knative_histogram()
    assert not merged.is_fine
    assert merged.count == 1004
    assert merged.count_above(100.0) == 200 + 2
    assert (knative_histogram() + fine) == merged


def test_merge_of_unrelated_layouts_raises() -> None:
    a = Histogram.from_buckets([3.0, math.inf], [1, 1])
    b = Histogram.from_buckets([4.0, math.inf], [1, 1])
    with pytest.raises(ValueError, match="subset"):
        _ = a + b


def test_subtraction_gives_counter_delta_and_rejects_reset() -> None:
    earlier = Histogram.from_samples([10.0, 20.0])
    later = earlier + Histogram.from_samples([30.0])
    delta = later - earlier
    assert delta.count == 1
    assert delta.count_above(20.0) == 1
    with pytest.raises(ValueError, match="counter reset"):
        _ = earlier - later


def test_coarsen_is_exact_and_rejects_foreign_bounds() -> None:
    values = np.array([1.0, 5.0, 5.5, 10.0, 99.0, 1e7])
    coarse = Histogram.from_samples(values).coarsen([5.0, 10.0, 100.0])
    assert coarse.counts.tolist() == [2, 2, 1, 1]
    with pytest.raises(ValueError, match="not bounds"):
        Histogram.from_samples(values).coarsen([12.345])


def test_dict_round_trip_is_json_safe_and_sparse() -> None:
    rng = np.random.default_rng(1)
    h = Histogram.from_samples(rng.lognormal(3.0, 0.3, 1000))
    data = json.loads(json.dumps(h.to_dict()))
    assert len(data["index"]) < 200
    assert Histogram.from_dict(data) == h
    coarse = knative_histogram()
    assert Histogram.from_dict(json.loads(json.dumps(coarse.to_dict()))) == coarse


def test_from_dict_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        Histogram.from_dict({"layout": "fine", "index": [10**6], "counts": [1]})
    with pytest.raises(ValueError):
        Histogram.from_dict({"nothing": 1})


finite_latencies = st.lists(
    st.floats(min_value=0.0, max_value=2e5, allow_nan=False), min_size=0, max_size=60
)


@settings(max_examples=60, deadline=None)
@given(finite_latencies, finite_latencies, finite_latencies)
def test_merge_is_associative_commutative_and_count_preserving(
    a: list[float], b: list[float], c: list[float]
) -> None:
    ha, hb, hc = (Histogram.from_samples(x) for x in (a, b, c))
    assert (ha + hb) + hc == ha + (hb + hc)
    assert ha + hb == hb + ha
    assert (ha + hb + hc).count == len(a) + len(b) + len(c)
    assert (ha + hb + hc) == Histogram.from_samples(a + b + c)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.floats(min_value=FINE_LOW_MS * 1.0001, max_value=FINE_HIGH_MS), min_size=1, max_size=200
    ),
    st.floats(min_value=0.0, max_value=1.0),
)
def test_quantile_relative_error_is_within_one_percent(values: list[float], q: float) -> None:
    exact = float(np.quantile(np.array(values), q, method="inverted_cdf"))
    assert Histogram.from_samples(values).quantile(q) == pytest.approx(exact, rel=0.01)
