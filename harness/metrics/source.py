"""``MetricSource``: cumulative per-revision counters read from Prometheus."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Protocol

from analysis import Histogram
from harness.metrics.counters import CounterTracker, SeriesSample
from harness.metrics.profiles import MetricProfile
from harness.metrics.prometheus import PrometheusClient


@dataclass(frozen=True)
class RevisionCounters:
    """What the server saw of one revision since the source first read it.

    ``latency`` is None when the profile's histogram has no series (yet).
    ``series`` counts the request series found, so callers can tell "no data" from "zero".
    """

    requests: int
    errors: int
    latency: Histogram | None
    series: int


class MetricSource(Protocol):
    """Reads cumulative server-side counters of a revision."""

    def has_series(self, namespace: str, service: str, revision: str, tag: str = "") -> bool:
        """True when the profile's request query returns at least one series."""
        ...

    def read(self, namespace: str, service: str, revision: str, tag: str = "") -> RevisionCounters:
        """Counts since this source's first read of that revision (resets handled)."""
        ...


@dataclass
class _RevisionTrackers:
    requests: CounterTracker = field(default_factory=CounterTracker)
    errors: CounterTracker = field(default_factory=CounterTracker)
    buckets: CounterTracker = field(default_factory=CounterTracker)


class PrometheusSource:
    """``MetricSource`` over the Prometheus HTTP API with a metric profile.

    Its queries go through ``client`` (a `PrometheusClient`), so a failure is
    ``Unavailable`` or, for a query Prometheus rejects, ``PromQLError``.
    """

    def __init__(self, url: str, profile: MetricProfile, *, timeout: float = 5.0) -> None:
        self.client = PrometheusClient(url, timeout=timeout)
        self.url = self.client.url
        self.profile = profile
        self._trackers: dict[tuple[str, str], _RevisionTrackers] = {}

    def check(self) -> None:
        """Raise ``Unavailable`` unless Prometheus answers a trivial query."""
        self._query("vector(1)")

    def has_series(self, namespace: str, service: str, revision: str, tag: str = "") -> bool:
        query = self._render(self.profile.requests, namespace, service, revision, tag)
        return bool(self._query(query))

    def read(self, namespace: str, service: str, revision: str, tag: str = "") -> RevisionCounters:
        trackers = self._trackers.setdefault((namespace, revision), _RevisionTrackers())
        # One evaluation instant for the three queries, so they read the same scrapes.
        at = time.time()
        req = self._query(
            self._render(self.profile.requests, namespace, service, revision, tag), at
        )
        err = self._query(self._render(self.profile.errors, namespace, service, revision, tag), at)
        buckets = self._query(
            self._render(self.profile.latency_buckets, namespace, service, revision, tag), at
        )
        trackers.requests.observe(req)
        trackers.errors.observe(err)
        trackers.buckets.observe(buckets)
        return RevisionCounters(
            requests=round(trackers.requests.total()),
            errors=round(trackers.errors.total()),
            latency=self._histogram(trackers.buckets),
            series=len(req),
        )

    def _histogram(self, tracker: CounterTracker) -> Histogram | None:
        by_le = tracker.by_label("le")
        if not by_le:
            return None
        bounds = sorted(by_le, key=float)
        upper_ms = [float(le) * self.profile.latency_unit_ms for le in bounds]
        cumulative = [round(by_le[le]) for le in bounds]
        # Buckets of one scrape are monotone in `le`; a pod whose series appear between
        # two of our queries can break that by a few counts, so enforce it.
        for i in range(1, len(cumulative)):
            cumulative[i] = max(cumulative[i], cumulative[i - 1])
        return Histogram.from_buckets(upper_ms, cumulative)

    def _render(self, template: str, namespace: str, service: str, revision: str, tag: str) -> str:
        return self.profile.render(
            template, namespace=namespace, service=service, revision=revision, tag=tag
        )

    def _query(self, query: str, at: float | None = None) -> list[SeriesSample]:
        samples = []
        for sample in self.client.query(query, at):
            if math.isfinite(sample.value):
                labels = {k: v for k, v in sample.labels.items() if k != "__name__"}
                samples.append(SeriesSample.of(labels, sample.value))
        return samples
