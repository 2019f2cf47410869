"""Prometheus parses a metric profile's queries, filled in, before a run's first write.

Shared by `harness canary` and `harness perf` (a custom template's syntax error would
otherwise show only once the run has started, as "Prometheus did not answer").
"""

from __future__ import annotations

import httpx

from harness.errors import BadInput, Unavailable
from harness.metrics.profiles import MetricProfile
from harness.redact import redact_url


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
    it answers ``bad_data`` (a PromQL syntax or type error), naming the query."""
    base = url.rstrip("/")
    for field in ("requests", "errors", "latency_buckets"):
        query = profile.render(
            getattr(profile, field),
            namespace=namespace,
            service=service,
            revision=revision,
            tag=tag,
        )
        try:
            response = httpx.get(f"{base}/api/v1/query", params={"query": query}, timeout=timeout)
        except httpx.HTTPError as exc:
            why = type(exc).__name__
            raise Unavailable(f"Prometheus at {redact_url(base)} did not answer: {why}") from None
        if response.status_code in (400, 422):
            try:
                body = response.json()
            except ValueError:
                body = {}
            if isinstance(body, dict) and body.get("errorType") in ("bad_data", "execution"):
                error = " ".join(str(body.get("error", "")).split())[:300]
                raise BadInput(
                    f"metrics profile {profile.name}: the {field} query is not valid PromQL "
                    f"({error}): {' '.join(query.split())[:200]}"
                )
        if response.status_code != 200:
            raise Unavailable(
                f"Prometheus at {redact_url(base)} answered HTTP {response.status_code} to a query"
            )
