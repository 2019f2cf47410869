"""Metric profiles: which PromQL gives a revision's requests, errors and latency buckets.

Each query returns raw counter series (never ``rate`` or ``increase``); the source
accumulates their deltas itself. Placeholders ``{namespace}``, ``{service}``,
``{revision}`` and ``{tag}`` are filled only with validated DNS labels, so a name can
never change the query's meaning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from harness.errors import BadInput
from harness.knative.names import require_dns_label

PLACEHOLDERS = frozenset({"namespace", "service", "revision", "tag"})
# A placeholder is a bare identifier in braces; PromQL label matchers always hold an operator.
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class MetricProfile:
    """PromQL templates for one metrics schema.

    ``latency_unit_ms`` converts the histogram's ``le`` bounds to milliseconds
    (1 for millisecond histograms, 1000 for seconds).
    """

    name: str
    requests: str
    errors: str
    latency_buckets: str
    latency_unit_ms: float = 1.0
    description: str = ""

    def render(
        self, template: str, *, namespace: str, service: str, revision: str, tag: str
    ) -> str:
        """Fill a template with DNS-label-validated names."""
        values = {
            "namespace": require_dns_label(namespace, "namespace"),
            "service": require_dns_label(service, "service"),
            "revision": require_dns_label(revision, "revision"),
            "tag": require_dns_label(tag, "tag") if tag else "",
        }
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def _check_template(field: str, template: str) -> None:
    if not template.strip():
        raise BadInput(f"metrics profile custom: {field}: empty PromQL template")
    for name in _PLACEHOLDER.findall(template):
        if name not in PLACEHOLDERS:
            allowed = ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS))
            raise BadInput(
                f"metrics profile custom: {field}: unknown placeholder {{{name}}} "
                f"(allowed: {allowed})"
            )


_LEGACY_SEL = 'namespace_name="{namespace}",revision_name="{revision}"'
# Knative >= 1.19 puts the revision on the target_info resource series only
# (docs/emulator-dataplane.md, "Metrics"), so queries join on the scrape target.
_OTEL_JOIN = (
    " * on(job, instance) group_left() "
    'target_info{k8s_namespace_name="{namespace}",kn_revision_name="{revision}"}'
)

PROFILES: dict[str, MetricProfile] = {
    "legacy": MetricProfile(
        name="legacy",
        description="Knative <= 1.18 queue-proxy metrics (revision_request_*)",
        requests=f"revision_request_count{{{_LEGACY_SEL}}}",
        errors=f'revision_request_count{{{_LEGACY_SEL},response_code_class="5xx"}}',
        latency_buckets=f"revision_request_latencies_bucket{{{_LEGACY_SEL}}}",
    ),
    "otel": MetricProfile(
        name="otel",
        description="Knative >= 1.19 OpenTelemetry metrics, joined with target_info",
        requests="http_server_request_duration_seconds_count" + _OTEL_JOIN,
        errors='http_server_request_duration_seconds_count{http_response_status_code=~"5.."}'
        + _OTEL_JOIN,
        latency_buckets="http_server_request_duration_seconds_bucket" + _OTEL_JOIN,
        latency_unit_ms=1000.0,
    ),
    "kourier": MetricProfile(
        name="kourier",
        description="Kourier/Envoy upstream cluster metrics per revision",
        requests='envoy_cluster_upstream_rq{envoy_cluster_name="{namespace}/{revision}"}',
        errors='envoy_cluster_upstream_rq{envoy_cluster_name="{namespace}/{revision}",'
        'envoy_response_code=~"5.."}',
        latency_buckets='envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="{namespace}/{revision}"}',
    ),
    "istio": MetricProfile(
        name="istio",
        description="Istio sidecar metrics reported by the destination workload",
        requests='istio_requests_total{reporter="destination",'
        'destination_workload_namespace="{namespace}",destination_workload="{revision}-deployment"}',
        errors='istio_requests_total{reporter="destination",'
        'destination_workload_namespace="{namespace}",destination_workload="{revision}-deployment",'
        'response_code=~"5.."}',
        latency_buckets='istio_request_duration_milliseconds_bucket{reporter="destination",'
        'destination_workload_namespace="{namespace}",destination_workload="{revision}-deployment"}',
    ),
}


def get_profile(name: str) -> MetricProfile:
    """The built-in profile of that name, or ``BadInput`` naming the choices."""
    try:
        return PROFILES[name]
    except KeyError:
        choices = ", ".join([*PROFILES, "custom"])
        raise BadInput(f"unknown metrics profile {name!r} (choose one of: {choices})") from None


class QueryTemplates(Protocol):
    """A spec's PromQL templates for the ``custom`` profile (`harness.config.CustomQueries`)."""

    @property
    def requests(self) -> str: ...
    @property
    def errors(self) -> str: ...
    @property
    def latency_buckets(self) -> str: ...
    @property
    def latency_unit_ms(self) -> float: ...


def resolve_profile(name: str, queries: QueryTemplates | None) -> MetricProfile:
    """The profile a spec names: a built-in one, or ``custom`` from its templates (BadInput
    without them). The canary and perf runs both resolve theirs here."""
    if name != "custom":
        return get_profile(name)
    if queries is None:
        raise BadInput("queries: the custom metrics profile needs PromQL templates")
    q = queries
    return custom_profile(q.requests, q.errors, q.latency_buckets, q.latency_unit_ms)


def custom_profile(
    requests: str, errors: str, latency_buckets: str, latency_unit_ms: float = 1.0
) -> MetricProfile:
    """A profile from user PromQL templates, checked for unknown placeholders."""
    for field, template in (
        ("requests", requests),
        ("errors", errors),
        ("latency_buckets", latency_buckets),
    ):
        _check_template(field, template)
    if latency_unit_ms <= 0:
        raise BadInput("metrics profile custom: latency_unit_ms must be positive")
    return MetricProfile(
        name="custom",
        requests=requests,
        errors=errors,
        latency_buckets=latency_buckets,
        latency_unit_ms=latency_unit_ms,
        description="user PromQL templates",
    )
