"""Cumulative counts from raw Prometheus counter series, with resets handled.

Prometheus counters restart at zero when a process restarts (a revision pod replaced,
an emulator revision restarted). ``increase()`` extrapolates and gives non-integer
counts, so we take raw instant values per series and accumulate deltas ourselves:
a value lower than the previous one of the same series is a reset, and the new value
is all that was counted since it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class SeriesSample:
    """One series of an instant query: its labels and its value."""

    labels: Labels
    value: float

    @staticmethod
    def of(labels: Mapping[str, str], value: float) -> SeriesSample:
        return SeriesSample(tuple(sorted(labels.items())), float(value))


@dataclass
class CounterTracker:
    """Accumulates per-series counter deltas since the first observation.

    The first ``observe`` sets the zero point of every series it sees; a series first
    seen later counts from zero (it was created after the run began, e.g. a new pod or
    a first 5xx response), so everything it holds happened during the run.
    """

    _last: dict[Labels, float] = field(default_factory=dict)
    _total: dict[Labels, float] = field(default_factory=dict)
    _started: bool = False

    def observe(self, samples: Iterable[SeriesSample]) -> None:
        """Take one instant query's samples into account."""
        for sample in samples:
            previous = self._last.get(sample.labels)
            if previous is None:
                delta = 0.0 if not self._started else sample.value
            elif sample.value < previous:
                delta = sample.value  # counter reset: all of the new value is new
            else:
                delta = sample.value - previous
            self._last[sample.labels] = sample.value
            self._total[sample.labels] = self._total.get(sample.labels, 0.0) + delta
        self._started = True

    def total(self, where: Mapping[str, str] | None = None) -> float:
        """Sum of accumulated deltas over series whose labels include ``where``."""
        if not where:
            return sum(self._total.values())
        wanted = set(where.items())
        return sum(v for labels, v in self._total.items() if wanted <= set(labels))

    def by_label(self, name: str) -> dict[str, float]:
        """Accumulated deltas summed by the value of one label (e.g. ``le``)."""
        out: dict[str, float] = {}
        for labels, value in self._total.items():
            key = dict(labels).get(name)
            if key is not None:
                out[key] = out.get(key, 0.0) + value
        return out
