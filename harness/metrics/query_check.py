"""Prometheus parses a metric profile's queries, filled in, before a run's first write.

Shared by `harness canary` and `harness perf` (a custom template's syntax error would
otherwise show only once the run has started, as a failed query).
"""

from __future__ import annotations

from harness.errors import BadInput
from harness.metrics.profiles import MetricProfile
from harness.metrics.prometheus import PrometheusClient, PromQLError


def check_promql(
    url: str,
    profile: MetricProfile,
    *,
    namespace: str,
    service: str,
    revision: str,
    tag: str,
    timeout: float = 10.0,
) -> None:
    """Ask Prometheus to evaluate each of the profile's queries, filled in; BadInput when
    it rejects one (a PromQL syntax or type error), naming the query; Unavailable when
    it does not answer."""
    with PrometheusClient(url, timeout=timeout, retries=1) as client:
        for field in ("requests", "errors", "latency_buckets"):
            query = profile.render(
                getattr(profile, field),
                namespace=namespace,
                service=service,
                revision=revision,
                tag=tag,
            )
            try:
                client.query(query)
            except PromQLError as exc:
                raise BadInput(
                    f"metrics profile {profile.name}: the {field} query is not valid PromQL "
                    f"({exc.error}): {' '.join(query.split())[:200]}"
                ) from None
