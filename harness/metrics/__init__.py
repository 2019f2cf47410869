"""Server-side metrics of revisions: Prometheus queries behind metric profiles.

``MetricSource`` is the interface the canary and perf runs use; ``PrometheusSource`` is
its implementation. A ``MetricProfile`` maps "requests, errors and latency histogram of
revision R" to PromQL for one Knative version or ingress, so no metric name is
hard-coded anywhere else.
"""

from harness.metrics.counters import CounterTracker, SeriesSample
from harness.metrics.profiles import PROFILES, MetricProfile, custom_profile, get_profile
from harness.metrics.source import MetricSource, PrometheusSource, RevisionCounters

__all__ = [
    "PROFILES",
    "CounterTracker",
    "MetricProfile",
    "MetricSource",
    "PrometheusSource",
    "RevisionCounters",
    "SeriesSample",
    "custom_profile",
    "get_profile",
]
