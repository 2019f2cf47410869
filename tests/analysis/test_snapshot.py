"""ArmSnapshot arithmetic: `+` joins two disjoint periods, `-` takes the counts between two
cumulative snapshots; both refuse what would be wrong (negative counts, mismatched data)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.histogram import KNATIVE_BOUNDS_MS, Histogram
from analysis.snapshot import ArmSnapshot


def _fine(*latencies_ms: float) -> Histogram:
    return Histogram.from_samples(list(latencies_ms))


def test_sum_of_two_periods_adds_counts_and_histograms() -> None:
    a = ArmSnapshot(3, 1, _fine(5.0, 10.0, 20.0))
    b = ArmSnapshot(2, 0, _fine(100.0, 200.0))
    total = a + b
    assert (total.requests, total.errors) == (5, 1)
    assert total.latency == _fine(5.0, 10.0, 20.0, 100.0, 200.0)
    # The operands are left as they were.
    assert a.latency is not None and a.latency.count == 3


def test_difference_is_what_happened_in_between() -> None:
    early = ArmSnapshot(3, 1, _fine(5.0, 10.0, 20.0))
    late = early + ArmSnapshot(4, 2, _fine(1.0, 2.0, 3.0, 4.0))
    delta = late - early
    assert (delta.requests, delta.errors) == (4, 2)
    assert delta.latency is not None
    assert delta.latency.count == 4
    assert delta.latency.quantile(1.0) == pytest.approx(4.0, rel=0.02)
    # Subtracting the zero snapshot gives the same counts back.
    zero = ArmSnapshot(0, 0, Histogram.empty())
    assert (late - zero).to_dict() == late.to_dict()


def test_a_negative_delta_is_refused() -> None:
    early = ArmSnapshot(10, 2, _fine(*[5.0] * 10))
    late = ArmSnapshot(8, 2, _fine(*[5.0] * 8))
    with pytest.raises(ValueError, match=r"negative .*counter reset or snapshots out of order"):
        late - early
    with pytest.raises(ValueError, match="negative"):
        ArmSnapshot(10, 1) - ArmSnapshot(5, 2)


def test_more_errors_than_requests_in_between_is_refused() -> None:
    with pytest.raises(ValueError, match="3 errors but only 1 requests"):
        ArmSnapshot(11, 5) - ArmSnapshot(10, 2)


def test_a_histogram_bucket_going_negative_is_refused() -> None:
    early = ArmSnapshot(2, 0, _fine(500.0, 500.0))
    late = ArmSnapshot(3, 0, _fine(1.0, 1.0, 1.0))  # same count, other buckets: not later
    with pytest.raises(ValueError, match="histogram delta is negative"):
        late - early


def test_histograms_of_other_layouts() -> None:
    knative = Histogram.from_buckets([*KNATIVE_BOUNDS_MS[:9], math.inf], [0] * 9 + [4])
    fine = ArmSnapshot(4, 0, Histogram.from_samples([1.0, 2.0, 3.0, 4.0]))
    coarse = ArmSnapshot(4, 0, knative)
    # Subtraction needs the same layout.
    with pytest.raises(ValueError, match="different bucket bounds"):
        fine - coarse
    # Addition coarsens onto a layout whose bounds are a subset, and refuses otherwise.
    odd = ArmSnapshot(1, 0, Histogram.from_buckets([7.0, math.inf], [1, 1]))
    with pytest.raises(ValueError, match="cannot merge histograms"):
        coarse + odd


def test_a_side_without_a_histogram() -> None:
    with_data = ArmSnapshot(3, 0, _fine(1.0, 2.0, 3.0))
    # Both without: the result has none either.
    assert (ArmSnapshot(3, 1) + ArmSnapshot(2, 0)).latency is None
    assert (ArmSnapshot(3, 1) - ArmSnapshot(2, 0)).latency is None
    # A side without a histogram that counted nothing is empty.
    assert (with_data + ArmSnapshot(0, 0)).latency == with_data.latency
    assert (ArmSnapshot(0, 0) + with_data).latency == with_data.latency
    assert (with_data - ArmSnapshot(0, 0)).latency == with_data.latency
    # One that counted requests cannot be merged with one that has their latencies.
    with pytest.raises(ValueError, match="other has none for its 2 requests"):
        with_data + ArmSnapshot(2, 0)
    with pytest.raises(ValueError, match="cannot subtract snapshots"):
        ArmSnapshot(5, 0) - with_data


def test_other_operands_are_not_supported() -> None:
    with pytest.raises(TypeError):
        ArmSnapshot(1, 0) + 1
    with pytest.raises(TypeError):
        ArmSnapshot(1, 0) - None


periods = st.lists(
    st.tuples(
        st.integers(0, 50),
        st.lists(st.floats(0.1, 5_000.0, allow_nan=False), max_size=20),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(periods)
def test_cumulative_snapshots_round_trip(parts: list[tuple[int, list[float]]]) -> None:
    """Summing periods into cumulative snapshots and differencing them gives the periods."""
    snapshots = [
        ArmSnapshot(len(values), min(errors, len(values)), Histogram.from_samples(values))
        for errors, values in parts
    ]
    cumulative = [snapshots[0]]
    for s in snapshots[1:]:
        cumulative.append(cumulative[-1] + s)
    assert cumulative[-1].requests == sum(s.requests for s in snapshots)
    for before, after, period in zip(cumulative, cumulative[1:], snapshots[1:], strict=False):
        delta = after - before
        assert (delta.requests, delta.errors) == (period.requests, period.errors)
        assert delta.latency is not None and period.latency is not None
        assert delta.latency.counts.tolist() == period.latency.counts.tolist()
