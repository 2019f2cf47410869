"""The KPA's two time windows, exact: averaging buckets and the scale-down-delay maximum.

``WindowAverage`` is the collector's ``TimedFloat64Buckets`` (linear average of 1 s
buckets over a window, knative/serving ``pkg/autoscaler/aggregation/bucketing.go``);
``MaxWindow`` is the decider's ``max.TimeWindow`` (the highest value recorded within a
duration, in 2 s buckets, ``pkg/autoscaler/aggregation/max/``), both at
knative/serving@98e5ef90aa7033797aa0a61ef97f3ff7e49a3944. Times are seconds (floats);
a bucket's index is ``floor(t / granularity)``, as Knative's is Unix seconds divided by
the granularity. Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections import deque

PRECISION = 6  # Knative rounds window averages to 6 digits


def round_digits(value: float, digits: int = PRECISION) -> float:
    """Go's ``math.Round(f*10^n)/10^n``: halves away from zero (Python's round is even)."""
    scale = 10.0**digits
    scaled = value * scale
    rounded = math.floor(scaled + 0.5) if scaled >= 0 else -math.floor(-scaled + 0.5)
    return rounded / scale


_SCALE = 10.0**PRECISION


def _round6(value: float) -> float:
    """`round_digits` at `PRECISION` (the windows' hot path: no power per call)."""
    scaled = value * _SCALE
    rounded = math.floor(scaled + 0.5) if scaled >= 0 else -math.floor(-scaled + 0.5)
    return rounded / _SCALE


class WindowAverage:
    """The average of 1-second buckets over a trailing window, with Knative's edge rules.

    A value recorded at time t is added to bucket floor(t / granularity); values older
    than a window behind the newest bucket are ignored. The average at ``now`` divides
    the window's total by the buckets since the first write (when that is less than a
    window ago); when the newest data is older than ``now``, the buckets after it are
    dropped from the total and the count. A whole window without writes starts afresh.
    `average` is None when the window holds no data (Knative's ``IsEmpty``: no write
    for more than a window), which makes the decider keep its last decision.
    """

    def __init__(self, window_s: float, granularity_s: float = 1.0) -> None:
        self.granularity = granularity_s
        self.window_s = window_s
        self.size = max(1, math.ceil(window_s / granularity_s - 1e-9))
        self._buckets = [0.0] * self.size
        self._total = 0.0
        self._first: int | None = None
        self._last: int | None = None

    def record(self, t: float, value: float) -> None:
        """Add ``value`` to the bucket of time ``t`` (values of one bucket are summed)."""
        index = math.floor(t / self.granularity)
        last = self._last
        if last is not None and index == last + 1 and self.size > 1:
            # The common case, one write per bucket: the general code below, unrolled
            # (drop the bucket a window ago, then add the value to it), same arithmetic.
            slot = index % self.size
            buckets = self._buckets
            self._total = self._total - buckets[slot] + value
            buckets[slot] = 0.0 + value
            self._last = index
            return
        if last is None:
            self._first = self._last = index
        elif index != last:
            if index + self.size <= last:
                return  # older than a window behind the newest write
            if self._first is None or self._first > index:
                self._first = index
            if index > last:
                if index - last >= self.size:
                    self._first = index
                    self._buckets = [0.0] * self.size
                    self._total = 0.0
                else:
                    buckets = self._buckets
                    for i in range(last + 1, index + 1):
                        slot = i % self.size
                        self._total -= buckets[slot]
                        buckets[slot] = 0.0
                self._last = index
        self._buckets[index % self.size] += value
        self._total += value

    def average(self, now: float) -> float | None:
        """The window's average at ``now``; None when no write happened within a window."""
        last, first = self._last, self._first
        if last is None or first is None:
            return None
        current = math.floor(now / self.granularity)
        behind = current - last
        if behind * self.granularity > self.window_s:
            return None
        if behind <= 0:
            count = last - first + 1
            if count > self.size:
                count = self.size
            return _round6(self._total / count)
        if behind < self.size:
            total = self._total
            for i in range(last + 1, current + 1):
                total -= self._buckets[i % self.size]
            count = min(last - first + 1, self.size - behind)
            return _round6(total / count)
        return 0.0


MIN_EXPONENT = 0.2  # the smallest decay multiplier of the weighted average
WEIGHT_PRECISION = 0.9999  # the weights of a window's buckets add up to at least this


def smoothing_coefficient(buckets: float) -> float:
    """``computeSmoothingCoeff``: the decay for ``buckets`` buckets, at least 0.2."""
    return max(1 - (1 - WEIGHT_PRECISION) ** (1 / buckets), MIN_EXPONENT)


class WeightedWindowAverage(WindowAverage):
    """``WeightedFloat64Buckets`` (``metric-aggregation-algorithm: weighted-exponential``):
    the same buckets, averaged with exponentially decaying weights, newest first; each
    second without a write since the newest one decays the weights once more. Not
    rounded, as Knative's is not."""

    def __init__(self, window_s: float, granularity_s: float = 1.0) -> None:
        super().__init__(window_s, granularity_s)
        self.coefficient = smoothing_coefficient(self.size)

    def average(self, now: float) -> float | None:
        last = self._last
        if last is None:
            return None
        current = math.floor(now / self.granularity)
        if (current - last) * self.granularity > self.window_s:
            return None
        size = self.size
        count = size
        multiplier = self.coefficient
        decay = 1 - self.coefficient
        if current > last:
            multiplier *= decay ** (current - last)
            count -= current - last
        buckets = self._buckets
        total = 0.0
        for i in range(count):
            total += buckets[(last - i) % size] * multiplier
            multiplier *= decay
        return total


class MaxWindow:
    """The highest value recorded within the last ``duration_s`` (Knative's delay window).

    Buckets of ``granularity_s`` (the 2 s tick); a value recorded in the same bucket as
    the previous one keeps the larger of the two. An ascending-minima deque, as Knative's.
    """

    def __init__(self, duration_s: float, granularity_s: float = 2.0) -> None:
        self.granularity = granularity_s
        self.size = max(1, math.ceil(duration_s / granularity_s - 1e-9))
        self._maxima: deque[tuple[int, int]] = deque()  # (index, value), values descending

    def record(self, t: float, value: int) -> None:
        """Record ``value`` at time ``t`` (times must not go back)."""
        index = int(t) // int(self.granularity)
        maxima = self._maxima
        while maxima and value >= maxima[-1][1]:
            maxima.pop()
        while maxima and index - maxima[0][0] >= self.size:
            maxima.popleft()
        if maxima and maxima[-1][0] == index:
            value = max(value, maxima.pop()[1])
        maxima.append((index, value))

    def current(self) -> int:
        """The maximum within the window (0 before any record)."""
        return self._maxima[0][1] if self._maxima else 0
