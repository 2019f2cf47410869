"""Queue-proxy-style request metrics of one revision process, in Prometheus text format.

Two schemas, as Knative exposes them (docs/emulator-dataplane.md, "Metrics"):

- ``legacy`` (Knative <= 1.18, OpenCensus, ``pkg/queue/request_metric.go``):
  ``revision_request_count`` and ``revision_request_latencies_*`` (milliseconds, truncated
  to whole ms as ``latency.Milliseconds()`` does) labelled with the revision's identity,
  ``response_code``, ``response_code_class`` and ``route_tag``;
  ``revision_app_request_*`` measured around the app (no ``route_tag``);
  ``revision_queue_depth`` only when ``containerConcurrency`` is set (Knative reports it
  only with a breaker).
- ``otel`` (Knative >= 1.19): ``kn_serving_invocation_duration_seconds_*`` with
  ``http_response_status_code``, ``http_server_request_duration_seconds_*`` with
  ``kn_route_tag``, ``kn_serving_queue_depth``; the revision, service and namespace are
  resource attributes and reach Prometheus only on ``target_info``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

MetricsSchema = Literal["legacy", "otel"]
SCHEMAS: tuple[MetricsSchema, ...] = ("legacy", "otel")

# Knative's defaultLatencyDistribution (ms) and the OTel seconds buckets it uses since 1.19.
LEGACY_BUCKETS_MS: tuple[float, ...] = (
    5, 10, 20, 40, 60, 80, 100, 150, 200, 250, 300, 350, 400, 450, 500,
    600, 700, 800, 900, 1000, 2000, 5000, 10000, 20000, 50000, 100000,
)  # fmt: skip
OTEL_BUCKETS_S: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
)  # fmt: skip

# Header names the ingress sets (knative/networking pkg/http/header) and their route tags.
TAG_HEADER = "Knative-Serving-Tag"
DEFAULT_ROUTE_HEADER = "Knative-Serving-Default-Route"
_OTEL_SCOPE = 'otel_scope_name="knative.dev/serving/pkg/queue",otel_scope_version=""'


@dataclass(frozen=True)
class RevisionIdentity:
    """Who a revision process is, as queue-proxy labels its metrics."""

    namespace: str
    service: str
    configuration: str
    revision: str
    pod: str


def route_tag(tag_header: str | None, default_route_header: str | None, schema: str) -> str:
    """The route tag label of a request, as queue-proxy's ``GetRouteTagNameFromRequest``.

    No tag header: ``DEFAULT`` behind a main host (default-route header set), else
    ``DISABLED`` (tag-header routing off). A tag header on the default route:
    ``UNDEFINED``. Otherwise the tag itself. The otel schema spells the three constants
    ``kn:default``, ``kn:undefined``, ``kn:disabled``.
    """
    otel = schema == "otel"
    if not tag_header:
        if not default_route_header:
            return "kn:disabled" if otel else "DISABLED"
        return "kn:default" if otel else "DEFAULT"
    if default_route_header == "true":
        return "kn:undefined" if otel else "UNDEFINED"
    return tag_header


def _code_class(code: int) -> str:
    return f"{code // 100}xx"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class BucketHistogram:
    """One Prometheus histogram series: counts per bucket (not cumulative until rendered),
    sum and count. The revision processes and the eventing emulator both render these."""

    __slots__ = ("bounds", "buckets", "count", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.buckets = [0] * (len(bounds) + 1)
        self.count = 0
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.buckets[bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.total += value

    def render(self, name: str, labels: str, lines: list[str]) -> None:
        running = 0
        sep = "," if labels else ""
        for bound, n in zip(self.bounds, self.buckets, strict=False):
            running += n
            lines.append(f'{name}_bucket{{{labels}{sep}le="{bound:g}"}} {running}')
        lines.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.count}')
        lines.append(f"{name}_sum{{{labels}}} {self.total!r}")
        lines.append(f"{name}_count{{{labels}}} {self.count}")


class RequestMetrics:
    """Records requests of one revision process and renders them in one schema.

    ``record_request`` is called for every request the queue-proxy front answers
    (including 503s from a full queue), ``record_app`` for those that reached the app.
    Probes are not recorded, as in Knative.
    """

    def __init__(
        self,
        identity: RevisionIdentity,
        schema: MetricsSchema,
        queue_depth: Callable[[], int] | None = None,
    ) -> None:
        if schema not in SCHEMAS:
            raise ValueError(f"unknown metrics schema {schema!r}")
        self.identity = identity
        self.schema = schema
        self._queue_depth = queue_depth
        self._requests: dict[tuple[str, int, str], BucketHistogram] = {}
        self._app: dict[int, BucketHistogram] = {}
        if schema == "legacy":
            self._bounds = LEGACY_BUCKETS_MS
        else:
            self._bounds = OTEL_BUCKETS_S

    def record_request(self, method: str, code: int, seconds: float, tag: str) -> None:
        """Count one request answered by the front, with its route tag."""
        # The legacy schema has no method label: its series are per (code, tag).
        key = (method if self.schema == "otel" else "", code, tag)
        hist = self._requests.get(key)
        if hist is None:
            hist = self._requests[key] = BucketHistogram(self._bounds)
        hist.observe(self._value(seconds))

    def record_app(self, code: int, seconds: float) -> None:
        """Count one request as measured around the app."""
        hist = self._app.get(code)
        if hist is None:
            hist = self._app[code] = BucketHistogram(self._bounds)
        hist.observe(self._value(seconds))

    def _value(self, seconds: float) -> float:
        # OpenCensus recorded float64(latency.Milliseconds()): whole milliseconds.
        return float(int(seconds * 1000.0)) if self.schema == "legacy" else seconds

    def render(self) -> str:
        """The whole exposition in Prometheus text format 0.0.4."""
        return self._render_legacy() if self.schema == "legacy" else self._render_otel()

    def _render_legacy(self) -> str:
        ident = self.identity
        base = (
            f'namespace_name="{_escape(ident.namespace)}",'
            f'service_name="{_escape(ident.service)}",'
            f'configuration_name="{_escape(ident.configuration)}",'
            f'revision_name="{_escape(ident.revision)}",'
            f'pod_name="{_escape(ident.pod)}",container_name="queue-proxy"'
        )
        lines: list[str] = []
        lines += [
            "# HELP revision_request_count The number of requests that are routed to queue-proxy",
            "# TYPE revision_request_count counter",
        ]
        requests = sorted(self._requests.items())
        for (_, code, tag), hist in requests:
            labels = f'{base},{_response_labels(code)},route_tag="{_escape(tag)}"'
            lines.append(f"revision_request_count{{{labels}}} {hist.count}")
        lines += [
            "# HELP revision_request_latencies The response time in millisecond",
            "# TYPE revision_request_latencies histogram",
        ]
        for (_, code, tag), hist in requests:
            labels = f'{base},{_response_labels(code)},route_tag="{_escape(tag)}"'
            hist.render("revision_request_latencies", labels, lines)
        lines += [
            "# HELP revision_app_request_count The number of requests that are routed to "
            "user-container",
            "# TYPE revision_app_request_count counter",
        ]
        for code, hist in sorted(self._app.items()):
            lines.append(
                f"revision_app_request_count{{{base},{_response_labels(code)}}} {hist.count}"
            )
        lines += [
            "# HELP revision_app_request_latencies The response time in millisecond",
            "# TYPE revision_app_request_latencies histogram",
        ]
        for code, hist in sorted(self._app.items()):
            hist.render("revision_app_request_latencies", f"{base},{_response_labels(code)}", lines)
        if self._queue_depth is not None:
            lines += [
                "# HELP revision_queue_depth The current number of items in the serving and "
                "waiting queue, or not reported if unlimited concurrency.",
                "# TYPE revision_queue_depth gauge",
                f"revision_queue_depth{{{base}}} {self._queue_depth()}",
            ]
        return "\n".join(lines) + "\n"

    def _render_otel(self) -> str:
        ident = self.identity
        lines = [
            "# HELP target_info Target metadata",
            "# TYPE target_info gauge",
            "target_info{"
            f'container_name="queue-proxy",k8s_namespace_name="{_escape(ident.namespace)}",'
            f'k8s_pod_name="{_escape(ident.pod)}",'
            f'kn_configuration_name="{_escape(ident.configuration)}",'
            f'kn_revision_name="{_escape(ident.revision)}",'
            f'kn_service_name="{_escape(ident.service)}",'
            f'service_instance_id="{_escape(ident.pod)}",'
            f'service_name="{_escape(ident.revision)}"'
            "} 1",
            "# HELP kn_serving_invocation_duration_seconds The duration of the task execution",
            "# TYPE kn_serving_invocation_duration_seconds histogram",
        ]
        for code, hist in sorted(self._app.items()):
            labels = f'http_response_status_code="{code}",{_OTEL_SCOPE}'
            hist.render("kn_serving_invocation_duration_seconds", labels, lines)
        lines += [
            "# HELP http_server_request_duration_seconds Duration of HTTP server requests.",
            "# TYPE http_server_request_duration_seconds histogram",
        ]
        for (method, code, tag), hist in sorted(self._requests.items()):
            labels = (
                f'http_request_method="{_escape(method)}",http_response_status_code="{code}",'
                f'kn_route_tag="{_escape(tag)}",network_protocol_name="http",'
                f'network_protocol_version="1.1",url_scheme="http",{_OTEL_SCOPE}'
            )
            hist.render("http_server_request_duration_seconds", labels, lines)
        if self._queue_depth is not None:
            lines += [
                "# HELP kn_serving_queue_depth Number of current items in the queue proxy queue",
                "# TYPE kn_serving_queue_depth gauge",
                f"kn_serving_queue_depth{{{_OTEL_SCOPE}}} {self._queue_depth()}",
            ]
        return "\n".join(lines) + "\n"


def _response_labels(code: int) -> str:
    return f'response_code="{code}",response_code_class="{_code_class(code)}"'
