"""Latency histograms with bounded memory, exact merges and Prometheus-style buckets.

A `Histogram` is a fixed array of counts over upper bucket bounds in milliseconds.
Bucket ``i`` holds the values ``v`` with ``bounds[i-1] < v <= bounds[i]`` (Prometheus
``le`` semantics); bucket 0 holds everything ``<= bounds[0]`` and the last bound is
always ``+inf``.

Two kinds of layout exist:

* the **fine** layout (`Histogram.empty()`, `from_samples`): log-spaced bounds in the
  manner of DDSketch (Masson, Rim & Lee, VLDB 2019) from 0.1 ms to 100 s with a ratio
  of ``10 ** (6 / 696)`` between neighbours, so that a bucket's representative value is
  within 0.93% of every value in it; an underflow bucket (<= 0.1 ms) and an overflow
  bucket (> 100 s). Knative's Prometheus bucket bounds (legacy milliseconds and the
  OpenTelemetry seconds schema) are added to the fine bounds, so a fine histogram can be
  coarsened exactly onto what Prometheus reports.
* **coarse** layouts from `from_buckets` (Prometheus ``_bucket`` series) or `coarsen`.

Counts are integers; merging (``+``) is exact; ``-`` gives the counter delta between two
cumulative looks.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["FINE_HIGH_MS", "FINE_LOW_MS", "FINE_RELATIVE_ERROR", "KNATIVE_BOUNDS_MS", "Histogram"]

FINE_LOW_MS = 0.1
FINE_HIGH_MS = 100_000.0
_FINE_DECADES = 6  # log10(FINE_HIGH_MS / FINE_LOW_MS)
_FINE_STEPS = 696  # a multiple of 6, so every decade (1 ms, 10 ms, ...) is a bound
_GAMMA = 10.0 ** (_FINE_DECADES / _FINE_STEPS)
_LOG_GAMMA = math.log(_GAMMA)
# DDSketch: the harmonic mean of a bucket's bounds is within (gamma-1)/(gamma+1) of any value.
FINE_RELATIVE_ERROR = (_GAMMA - 1.0) / (_GAMMA + 1.0)

# docs/emulator-dataplane.md, "Metrics": queue-proxy buckets (ms), Knative <= 1.18.
KNATIVE_BOUNDS_MS: tuple[float, ...] = (
    5, 10, 20, 40, 60, 80, 100, 150, 200, 250, 300, 350, 400, 450, 500,
    600, 700, 800, 900, 1000, 2000, 5000, 10000, 20000, 50000, 100000,
)  # fmt: skip
# Knative >= 1.19 (OpenTelemetry) buckets, given in seconds there, here in ms.
OTEL_BOUNDS_MS: tuple[float, ...] = (
    5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000,
)  # fmt: skip

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _build_fine_bounds() -> tuple[FloatArray, list[int]]:
    """The fine layout's bounds and, per log step k, the first bucket inside step k."""
    log_bounds = [
        FINE_LOW_MS * 10.0 ** (_FINE_DECADES * k / _FINE_STEPS) for k in range(1 + _FINE_STEPS)
    ]
    nice = sorted(set(KNATIVE_BOUNDS_MS) | set(OTEL_BOUNDS_MS) | {FINE_LOW_MS, FINE_HIGH_MS})
    merged: list[float] = []
    for value in sorted(log_bounds + [float(v) for v in nice]):
        if merged and math.isclose(value, merged[-1], rel_tol=1e-9):
            # Prefer the round number (1 ms, 10 ms, Knative's bounds) over its float twin.
            if float(value).is_integer() or value in nice:
                merged[-1] = float(value)
            continue
        merged.append(float(value))
    bounds = np.array([*merged, math.inf], dtype=np.float64)
    # first_bucket[k]: index of the first bucket whose upper bound exceeds log bound k-1.
    first_bucket = [0] * (2 + _FINE_STEPS)
    for k in range(1, 1 + _FINE_STEPS):
        first_bucket[k] = int(np.searchsorted(bounds, log_bounds[k - 1], side="right"))
    first_bucket[1 + _FINE_STEPS] = len(bounds) - 1
    return bounds, first_bucket


_FINE_BOUNDS, _FINE_FIRST_BUCKET = _build_fine_bounds()
_FINE_BOUNDS.setflags(write=False)
_FINE_BOUNDS_LIST: list[float] = _FINE_BOUNDS.tolist()
_FINE_LAYOUT_NAME = "fine"


def _is_subset(small: FloatArray, large: FloatArray) -> npt.NDArray[np.intp] | None:
    """Indices in ``large`` of each bound of ``small`` (same value, 1e-9 relative), or None."""
    idx = np.searchsorted(large, small * (1.0 - 1e-9), side="left")
    if np.any(idx >= len(large)):
        return None
    found = large[idx]
    same = (found == small) | np.isclose(found, small, rtol=1e-9, atol=0.0)
    return idx if bool(np.all(same)) else None


class Histogram:
    """Counts of latencies (milliseconds) over fixed upper bucket bounds.

    Memory is one int64 per bucket whatever the number of recorded values. ``sum`` is
    exact for values recorded here and otherwise estimated from bucket values; ``min``
    and ``max`` are known only for recorded values (None otherwise).
    """

    __slots__ = ("_bounds", "_bounds_list", "_counts", "_fine", "_max", "_min", "_sum")

    def __init__(
        self,
        upper_bounds: Sequence[float] | FloatArray,
        counts: Sequence[int] | IntArray,
        *,
        sum_ms: float | None = None,
        min_ms: float | None = None,
        max_ms: float | None = None,
    ) -> None:
        """Build from per-bucket (not cumulative) counts; the last bound must be +inf.

        Prefer the named constructors (`empty`, `from_samples`, `from_buckets`,
        `from_dict`). Raises ValueError on bounds that are not strictly increasing, a
        last bound that is not +inf, a length mismatch or negative counts.
        """
        bounds = np.asarray(upper_bounds, dtype=np.float64)
        if bounds.ndim != 1 or len(bounds) < 1:
            raise ValueError("histogram bounds must be a non-empty 1-D sequence")
        if not math.isinf(bounds[-1]) or bounds[-1] < 0:
            raise ValueError("the last histogram bound must be +inf")
        if np.any(np.isnan(bounds)) or np.any(np.diff(bounds) <= 0):
            raise ValueError("histogram bounds must be strictly increasing")
        count_array = np.asarray(counts)
        if count_array.shape != bounds.shape:
            raise ValueError(
                f"histogram has {len(bounds)} bounds but {count_array.size} bucket counts"
            )
        if count_array.size and (
            np.any(count_array < 0) or not np.all(np.equal(np.mod(count_array, 1), 0))
        ):
            raise ValueError("bucket counts must be non-negative integers")
        if len(bounds) == len(_FINE_BOUNDS) and np.array_equal(bounds, _FINE_BOUNDS):
            bounds = _FINE_BOUNDS
        self._bounds: FloatArray = bounds
        self._bounds_list: list[float] = (
            _FINE_BOUNDS_LIST if bounds is _FINE_BOUNDS else bounds.tolist()
        )
        self._fine = bounds is _FINE_BOUNDS
        self._counts: IntArray = count_array.astype(np.int64, copy=True)
        total = int(self._counts.sum())
        self._sum: float | None = None if sum_ms is None else float(sum_ms)
        if total == 0 and sum_ms is None:
            self._sum = 0.0
        # Empty and fully known: min = +inf, max = -inf, so merges keep the other side's.
        self._min: float | None = min_ms if total else math.inf
        self._max: float | None = max_ms if total else -math.inf

    # ----------------------------------------------------------------- construction
    @classmethod
    def empty(cls) -> Histogram:
        """An empty histogram in the fine layout (<= 1% relative error, 0.1 ms..100 s)."""
        return cls(_FINE_BOUNDS, np.zeros(len(_FINE_BOUNDS), dtype=np.int64))

    @classmethod
    def from_samples(cls, latencies_ms: npt.ArrayLike) -> Histogram:
        """A fine-layout histogram of the given latencies (milliseconds)."""
        hist = cls.empty()
        hist.record_many(latencies_ms)
        return hist

    @classmethod
    def from_buckets(
        cls,
        upper_bounds_ms: Sequence[float] | npt.ArrayLike,
        cumulative_counts: Sequence[float] | npt.ArrayLike,
        *,
        sum_ms: float | None = None,
        count: int | None = None,
    ) -> Histogram:
        """A histogram from Prometheus ``le`` buckets: cumulative counts per upper bound.

        Bounds are in milliseconds (multiply the OpenTelemetry schema's seconds by 1000).
        The last bound may be +inf; if it is not, a +inf bucket is added holding
        ``count - cumulative_counts[-1]`` (``count`` is the ``_count`` series; 0 if
        omitted). Counts may be integral floats, as Prometheus returns them. Raises
        ValueError on decreasing cumulative counts, non-integral counts or bad bounds.
        """
        bounds = np.asarray(upper_bounds_ms, dtype=np.float64).ravel()
        cumulative = np.asarray(cumulative_counts, dtype=np.float64).ravel()
        if bounds.shape != cumulative.shape:
            raise ValueError(f"{len(bounds)} bucket bounds but {len(cumulative)} cumulative counts")
        if len(bounds) == 0:
            raise ValueError("at least one bucket is needed")
        if np.any(np.isnan(cumulative)) or np.any(cumulative != np.round(cumulative)):
            raise ValueError("bucket counts must be integers")
        if np.any(cumulative < 0) or np.any(np.diff(cumulative) < 0):
            raise ValueError("cumulative bucket counts must be non-negative and non-decreasing")
        if not math.isinf(bounds[-1]):
            total = float(cumulative[-1]) if count is None else float(count)
            if total < cumulative[-1]:
                raise ValueError("count is smaller than the last cumulative bucket")
            bounds = np.append(bounds, math.inf)
            cumulative = np.append(cumulative, total)
        elif count is not None and int(count) != int(cumulative[-1]):
            raise ValueError("count differs from the +Inf bucket's cumulative count")
        per_bucket = np.diff(cumulative, prepend=0.0).astype(np.int64)
        return cls(bounds, per_bucket, sum_ms=sum_ms)

    # ----------------------------------------------------------------- recording
    def record(self, value_ms: float, count: int = 1) -> None:
        """Add ``count`` observations of ``value_ms``; O(1), no numpy call in the fine layout."""
        if value_ms != value_ms:  # NaN
            raise ValueError("cannot record NaN")
        if count <= 0:
            if count == 0:
                return
            raise ValueError("count must be non-negative")
        bounds = self._bounds_list
        if self._fine:
            if value_ms <= FINE_LOW_MS:
                index = 0
            elif value_ms > FINE_HIGH_MS:
                index = len(bounds) - 1
            else:
                step = math.ceil(math.log(value_ms / FINE_LOW_MS) / _LOG_GAMMA)
                index = _FINE_FIRST_BUCKET[min(max(step, 1), _FINE_STEPS)]
                while value_ms > bounds[index]:
                    index += 1
                while index > 0 and value_ms <= bounds[index - 1]:
                    index -= 1
        else:
            index = bisect.bisect_left(bounds, value_ms)
        self._counts[index] += count
        if self._sum is not None:
            self._sum += value_ms * count
        if self._min is not None and value_ms < self._min:
            self._min = value_ms
        if self._max is not None and value_ms > self._max:
            self._max = value_ms

    def record_many(self, values_ms: npt.ArrayLike) -> None:
        """Add every value of a 1-D array (vectorised). Raises ValueError on NaN."""
        values = np.asarray(values_ms, dtype=np.float64).ravel()
        if values.size == 0:
            return
        if np.isnan(values).any():
            raise ValueError("cannot record NaN")
        index = np.searchsorted(self._bounds, values, side="left")
        self._counts += np.bincount(index, minlength=len(self._bounds)).astype(np.int64)
        if self._sum is not None:
            self._sum += float(values.sum())
        low, high = float(values.min()), float(values.max())
        if self._min is not None:
            self._min = min(self._min, low)
        if self._max is not None:
            self._max = max(self._max, high)

    # ----------------------------------------------------------------- reading
    @property
    def upper_bounds(self) -> FloatArray:
        """Upper bucket bounds in ms (read-only view); the last one is +inf."""
        view = self._bounds.view()
        view.setflags(write=False)
        return view

    @property
    def counts(self) -> IntArray:
        """Per-bucket counts (a copy; not cumulative)."""
        return self._counts.copy()

    @property
    def is_fine(self) -> bool:
        """True for the default fine log layout."""
        return self._fine

    @property
    def count(self) -> int:
        """Number of recorded values."""
        return int(self._counts.sum())

    @property
    def sum(self) -> float:
        """Sum of values in ms: exact when recorded here, else estimated from bucket values."""
        if self._sum is not None:
            return self._sum
        return float(np.dot(self._counts, self.representative_values()))

    @property
    def mean(self) -> float:
        """Mean in ms; NaN when empty."""
        n = self.count
        return self.sum / n if n else math.nan

    @property
    def min(self) -> float | None:
        """Smallest recorded value, or None if empty or unknown (bucket input, deltas)."""
        return None if self._min is None or math.isinf(self._min) else self._min

    @property
    def max(self) -> float | None:
        """Largest recorded value, or None if empty or unknown (bucket input, deltas)."""
        return None if self._max is None or math.isinf(self._max) else self._max

    def cumulative(self) -> IntArray:
        """Cumulative counts per upper bound (Prometheus ``le`` style)."""
        return np.cumsum(self._counts)

    def bound_index(self, threshold_ms: float) -> int:
        """Index of the bucket whose upper bound equals ``threshold_ms`` (1e-9 relative).

        Raises ValueError when the threshold is not a bound of this layout.
        """
        index = int(np.searchsorted(self._bounds, threshold_ms * (1.0 - 1e-9), side="left"))
        if index < len(self._bounds) and math.isclose(
            self._bounds[index], threshold_ms, rel_tol=1e-9
        ):
            return index
        raise ValueError(f"{threshold_ms} ms is not a bucket bound of this histogram")

    def count_above(self, threshold_ms: float) -> int:
        """Number of values strictly above ``threshold_ms``, which must be a bucket bound."""
        index = self.bound_index(threshold_ms)
        return int(self._counts[index + 1 :].sum())

    def representative_values(self) -> FloatArray:
        """One value per bucket standing for the values in it (ms).

        Fine layout: the harmonic mean of the bucket's bounds (DDSketch's estimate, within
        `FINE_RELATIVE_ERROR` of any value in the bucket); underflow 0.1 ms, overflow
        100 s. Coarse layouts: the geometric mean of the bounds; the first bucket counts
        from half its upper bound, the +inf bucket stands at twice the last finite bound.
        """
        bounds = self._bounds
        upper = bounds.copy()
        lower = np.empty_like(upper)
        lower[1:] = bounds[:-1]
        if self._fine:
            lower[0] = upper[0]
            upper[-1] = lower[-1]
            return 2.0 * lower * upper / (lower + upper)
        finite_top = bounds[-2] if len(bounds) > 1 else 1.0
        lower[0] = upper[0] / 2.0 if upper[0] > 0 else upper[0]
        if math.isinf(upper[0]):
            lower[0] = upper[0] = 1.0
        upper[-1] = 2.0 * finite_top if finite_top > 0 else 1.0
        with np.errstate(invalid="ignore"):
            values = np.sqrt(np.clip(lower, 0.0, None) * np.clip(upper, 0.0, None))
        return np.where(values > 0, values, upper)

    def quantile(self, q: float) -> float:
        """The q-quantile in ms (0 <= q <= 1); NaN when empty.

        Fine layout: the representative value of the bucket holding the order statistic
        of rank ``max(1, ceil(q * n))`` (numpy's ``inverted_cdf``), so within 1% of that
        sample value for values in 0.1 ms..100 s; clamped to the known min and max.
        Coarse layouts: linear interpolation inside the bucket, as Prometheus'
        ``histogram_quantile`` does (the +inf bucket gives the last finite bound).
        """
        if not 0.0 <= q <= 1.0:
            raise ValueError("q must be within [0, 1]")
        n = self.count
        if n == 0:
            return math.nan
        cumulative = self.cumulative()
        if self._fine:
            rank = max(1, math.ceil(q * n - 1e-9))
            index = int(np.searchsorted(cumulative, rank, side="left"))
            value = float(self.representative_values()[index])
            if index == len(cumulative) - 1 and self.max is not None:
                value = self.max
        else:
            rank_f = q * n
            index = int(np.searchsorted(cumulative, rank_f, side="left"))
            index = min(index, len(cumulative) - 1)
            while index < len(cumulative) - 1 and self._counts[index] == 0:
                index += 1
            upper = float(self._bounds[index])
            lower = float(self._bounds[index - 1]) if index > 0 else min(0.0, upper)
            if math.isinf(upper):
                value = lower if index > 0 else math.nan
            else:
                below = float(cumulative[index - 1]) if index > 0 else 0.0
                inside = float(self._counts[index])
                fraction = (rank_f - below) / inside if inside else 1.0
                value = lower + (upper - lower) * min(max(fraction, 0.0), 1.0)
        if self.min is not None:
            value = max(value, self.min)
        if self.max is not None:
            value = min(value, self.max)
        return value

    # ----------------------------------------------------------------- algebra
    def same_layout(self, other: Histogram) -> bool:
        """True when both histograms have identical bounds."""
        return self._bounds is other._bounds or np.array_equal(self._bounds, other._bounds)

    def coarsen(self, upper_bounds_ms: Sequence[float] | npt.ArrayLike) -> Histogram:
        """Re-bucket onto coarser bounds, which must all be bounds of this histogram.

        A +inf bound is added if missing. Exact: no value changes bucket side. Raises
        ValueError when a requested bound is not one of this histogram's bounds.
        """
        target = np.asarray(upper_bounds_ms, dtype=np.float64).ravel()
        if len(target) == 0 or not math.isinf(target[-1]):
            target = np.append(target, math.inf)
        if np.any(np.diff(target) <= 0):
            raise ValueError("coarse bounds must be strictly increasing")
        positions = _is_subset(target, self._bounds)
        if positions is None:
            missing = [float(b) for b in target if _is_subset(np.array([b]), self._bounds) is None]
            raise ValueError(
                f"cannot coarsen: bounds {missing[:5]} are not bounds of this histogram"
            )
        cumulative = self.cumulative()[positions]
        counts = np.diff(cumulative, prepend=0)
        return Histogram(
            self._bounds[positions], counts, sum_ms=self._sum, min_ms=self._min, max_ms=self._max
        )

    def common_layout(self, other: Histogram) -> tuple[Histogram, Histogram]:
        """Both histograms on one layout: the finer is coarsened onto the coarser.

        Raises ValueError when neither layout's bounds are a subset of the other's.
        """
        if self.same_layout(other):
            return self, other
        if _is_subset(other._bounds, self._bounds) is not None:
            return self.coarsen(other._bounds), other
        if _is_subset(self._bounds, other._bounds) is not None:
            return self, other.coarsen(self._bounds)
        raise ValueError(
            "cannot merge histograms: neither layout's bounds are a subset of the other's "
            f"({len(self._bounds)} vs {len(other._bounds)} buckets)"
        )

    def __add__(self, other: object) -> Histogram:
        """Exact merge; differing layouts are coarsened onto the coarser (subset) one."""
        if not isinstance(other, Histogram):
            return NotImplemented
        left, right = self.common_layout(other)
        return Histogram(
            left._bounds,
            left._counts + right._counts,
            sum_ms=_add_optional(left._sum, right._sum),
            min_ms=_combine_optional(left._min, right._min, min),
            max_ms=_combine_optional(left._max, right._max, max),
        )

    def __sub__(self, other: object) -> Histogram:
        """Counter delta between two cumulative histograms of the same layout.

        Raises ValueError if any bucket would go negative (a counter reset or snapshots
        taken out of order) or if the layouts differ.
        """
        if not isinstance(other, Histogram):
            return NotImplemented
        if not self.same_layout(other):
            raise ValueError("cannot subtract histograms with different bucket bounds")
        delta = self._counts - other._counts
        if np.any(delta < 0):
            raise ValueError("histogram delta is negative: counter reset or snapshots out of order")
        if other.count == 0:
            return self.copy()
        return Histogram(self._bounds, delta, sum_ms=_sub_optional(self._sum, other._sum))

    def copy(self) -> Histogram:
        """An independent copy."""
        return Histogram(
            self._bounds, self._counts, sum_ms=self._sum, min_ms=self._min, max_ms=self._max
        )

    def __eq__(self, other: object) -> bool:
        """Same bounds, same counts, same min/max and sums equal to 1e-9 relative."""
        if not isinstance(other, Histogram):
            return NotImplemented
        if not self.same_layout(other) or not np.array_equal(self._counts, other._counts):
            return False
        if self.min != other.min or self.max != other.max:
            return False
        if (self._sum is None) != (other._sum is None):
            return False
        return (
            self._sum is None
            or other._sum is None
            or math.isclose(self._sum, other._sum, rel_tol=1e-9, abs_tol=1e-9)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        layout = _FINE_LAYOUT_NAME if self._fine else f"{len(self._bounds)} buckets"
        return f"Histogram({layout}, count={self.count}, p50={self.quantile(0.5):.4g} ms)"

    # ----------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        """A compact JSON-safe dict: sparse (non-zero buckets only) for the fine layout."""
        out: dict[str, Any]
        if self._fine:
            nonzero = np.flatnonzero(self._counts)
            out = {
                "layout": _FINE_LAYOUT_NAME,
                "index": nonzero.tolist(),
                "counts": self._counts[nonzero].tolist(),
            }
        else:
            out = {
                "bounds": [*self._bounds[:-1].tolist(), "+Inf"],
                "counts": self._counts.tolist(),
            }
        if self._sum is not None:
            out["sum"] = self._sum
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Histogram:
        """Inverse of `to_dict`. Raises ValueError on malformed input."""
        try:
            if data.get("layout") == _FINE_LAYOUT_NAME:
                counts = np.zeros(len(_FINE_BOUNDS), dtype=np.int64)
                index = np.asarray(data["index"], dtype=np.int64)
                values = np.asarray(data["counts"], dtype=np.int64)
                if index.shape != values.shape or (
                    index.size and (index.min() < 0 or index.max() >= len(counts))
                ):
                    raise ValueError("bad sparse bucket index")
                np.add.at(counts, index, values)
                bounds: Sequence[float] | FloatArray = _FINE_BOUNDS
            elif "layout" in data:
                raise ValueError(f"unknown histogram layout {data['layout']!r}")
            else:
                bounds = [
                    math.inf if b in ("+Inf", "inf", None) else float(b) for b in data["bounds"]
                ]
                counts = np.asarray(data["counts"], dtype=np.int64)
            total = int(np.sum(counts))
            min_ms = data.get("min")
            max_ms = data.get("max")
            return (
                cls(
                    bounds,
                    counts,
                    sum_ms=data.get("sum"),
                    min_ms=None if min_ms is None else float(min_ms),
                    max_ms=None if max_ms is None else float(max_ms),
                )
                if total
                else cls(bounds, counts)
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a histogram dict: {exc}") from exc


def _add_optional(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def _sub_optional(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _combine_optional(a: float | None, b: float | None, pick: Any) -> float | None:
    return None if a is None or b is None else float(pick(a, b))
