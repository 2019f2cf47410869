"""The broker ingress's and filter's metrics, in Prometheus text, in Knative's two schemas.

- ``legacy`` (Knative <= 1.18, OpenCensus; knative/eventing tag knative-v1.18.0,
  ``pkg/broker/{ingress,filter}/stats_reporter.go``): ``event_count``,
  ``event_dispatch_latencies`` (ms) and, for the filter, ``event_processing_latencies``,
  with ``namespace_name``, ``broker_name`` (``trigger_name``), ``event_type`` /
  ``filter_type`` + ``filter_request_type``, ``event_scheme``, ``response_code``,
  ``response_code_class``, ``container_name`` and ``unique_name``.
- ``otel`` (Knative >= 1.19; 8cf4c4b6 ``pkg/broker/{ingress,filter}/*_handler.go``,
  ``pkg/observability``): ``kn_eventing_dispatch_duration_seconds`` and
  ``kn_eventing_process_duration_seconds`` with the OTel attribute names.

Plus the emulator's own ``harness_eventing_*_total`` counters (docs/eventing.md).
"""

from __future__ import annotations

from collections.abc import Iterable

from harness.local.metrics import BucketHistogram, MetricsSchema

LEGACY_BUCKETS_MS: tuple[float, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
OTEL_BUCKETS_S: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
)  # fmt: skip
INGRESS_SCOPE = "knative.dev/pkg/broker/ingress"
FILTER_SCOPE = "knative.dev/pkg/broker/filter"
COUNTERS = ("matched", "dropped", "delivered", "dead_lettered", "undeliverable", "replies")
_UNIQUE_INGRESS = "mt-broker-ingress-emulator"
_UNIQUE_FILTER = "mt-broker-filter-emulator"

Labels = tuple[tuple[str, str], ...]
MAX_SERIES = 5000  # per metric; past it, new event types are labelled OTHER_TYPE
OTHER_TYPE = "_other_"
_TYPE_LABELS = frozenset({"event_type", "filter_type", "cloudevents_type"})


def _other_type(labels: Labels) -> Labels:
    return tuple((k, OTHER_TYPE if k in _TYPE_LABELS else v) for k, v in labels)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _render_labels(labels: Labels) -> str:
    return ",".join(f'{k}="{_escape(v)}"' for k, v in labels)


def channel_url(namespace: str, broker: str) -> str:
    """The in-memory channel's address Knative's MTChannelBasedBroker sends to."""
    return f"http://{broker}-kne-trigger-kn-channel.{namespace}.svc.cluster.local"


class EventingMetrics:
    """Records ingress and filter observations; ``render`` gives the /metrics text."""

    def __init__(self, schema: MetricsSchema) -> None:
        self.schema = schema
        # Legacy ``event_count`` is each dispatch histogram's count (same labels).
        self._dispatch: dict[Labels, BucketHistogram] = {}
        # The histogram of each call's arguments, so that an observation costs one lookup
        # of a flat tuple (the label tuples are built once per series).
        self._cache: dict[tuple[object, ...], BucketHistogram] = {}
        self._process: dict[Labels, BucketHistogram] = {}
        self._counters: dict[tuple[str, str, str, str], int] = {}
        self._bounds = LEGACY_BUCKETS_MS if schema == "legacy" else OTEL_BUCKETS_S

    def _value(self, seconds: float) -> float:
        return seconds * 1000.0 if self.schema == "legacy" else seconds

    def _histogram(self, table: dict[Labels, BucketHistogram], labels: Labels) -> BucketHistogram:
        found = table.get(labels)
        if found is None:
            if len(table) >= MAX_SERIES:
                # Senders choose event types: past the cap, new ones share one series.
                labels = _other_type(labels)
                found = table.get(labels)
                if found is not None:
                    return found
            found = table[labels] = BucketHistogram(self._bounds)
        return found

    def _remember(self, key: tuple[object, ...], histogram: BucketHistogram) -> None:
        if len(self._cache) < 4 * MAX_SERIES:  # past it (many event types): no shortcut
            self._cache[key] = histogram

    def ingress(
        self, namespace: str, broker: str, event_type: str, code: int, seconds: float
    ) -> None:
        """One event the broker ingress answered with ``code`` after ``seconds``."""
        key = ("ingress", namespace, broker, event_type, code)
        found = self._cache.get(key)
        if found is None:
            found = self._histogram(
                self._dispatch, self._ingress_labels(namespace, broker, event_type, code)
            )
            self._remember(key, found)
        found.observe(self._value(seconds))

    def _ingress_labels(self, namespace: str, broker: str, event_type: str, code: int) -> Labels:
        if self.schema == "legacy":
            labels: Labels = (
                ("broker_name", broker),
                ("container_name", "ingress"),
                ("event_scheme", "http"),
                ("event_type", event_type),
                ("namespace_name", namespace),
                ("response_code", str(code)),
                ("response_code_class", f"{code // 100}xx"),
                ("unique_name", _UNIQUE_INGRESS),
            )
            return labels
        return (
            ("cloudevents_type", event_type),
            ("http_response_status_code", str(code)),
            ("kn_broker_name", broker),
            ("kn_broker_namespace", namespace),
            ("messaging_destination_name", channel_url(namespace, broker)),
            ("messaging_operation_name", "send"),
            ("messaging_system", "knative"),
            ("otel_scope_name", INGRESS_SCOPE),
            ("otel_scope_version", ""),
            ("url_scheme", "http"),
        )

    def _filter_labels(
        self,
        namespace: str,
        broker: str,
        trigger: str,
        filter_type: str,
        request_type: str,
        event_type: str,
        code: int | None,
    ) -> Labels:
        if self.schema == "legacy":
            labels: list[tuple[str, str]] = [
                ("broker_name", broker),
                ("container_name", "filter"),
                ("event_scheme", "http"),
                ("filter_request_type", request_type),
                ("filter_type", filter_type),
                ("namespace_name", namespace),
            ]
            if code is not None:
                labels += [
                    ("response_code", str(code)),
                    ("response_code_class", f"{code // 100}xx"),
                ]
            labels += [("trigger_name", trigger), ("unique_name", _UNIQUE_FILTER)]
            return tuple(labels)
        otel: list[tuple[str, str]] = [("cloudevents_type", event_type)]
        if code is not None:
            otel.append(("http_response_status_code", str(code)))
        otel += [
            ("kn_broker_name", broker),
            ("kn_broker_namespace", namespace),
            ("messaging_destination_name", f"trigger:{trigger}.{namespace}"),
            ("messaging_operation_name", "send"),
            ("messaging_system", "knative"),
            ("otel_scope_name", FILTER_SCOPE),
            ("otel_scope_version", ""),
            ("url_scheme", "http"),
        ]
        return tuple(otel)

    def dispatch(
        self,
        namespace: str,
        broker: str,
        trigger: str,
        filter_type: str,
        request_type: str,
        event_type: str,
        code: int,
        seconds: float,
    ) -> None:
        """One attempt of the filter to send an event (to a subscriber, a dead letter sink
        or, for a reply, the broker) answered ``code`` after ``seconds``."""
        key = ("dispatch", namespace, broker, trigger, filter_type, request_type, event_type, code)
        found = self._cache.get(key)
        if found is None:
            labels = self._filter_labels(
                namespace, broker, trigger, filter_type, request_type, event_type, code
            )
            found = self._histogram(self._dispatch, labels)
            self._remember(key, found)
        found.observe(self._value(seconds))

    def process(
        self,
        namespace: str,
        broker: str,
        trigger: str,
        filter_type: str,
        event_type: str,
        seconds: float,
    ) -> None:
        """Time from an event's arrival to the filter's first dispatch of it."""
        key = ("process", namespace, broker, trigger, filter_type, event_type)
        found = self._cache.get(key)
        if found is None:
            labels = self._filter_labels(
                namespace, broker, trigger, filter_type, "filter", event_type, None
            )
            found = self._histogram(self._process, labels)
            self._remember(key, found)
        found.observe(self._value(seconds))

    def count(self, what: str, namespace: str, broker: str, trigger: str, n: int = 1) -> None:
        """Add to one of the emulator's ``harness_eventing_<what>_events_total`` counters."""
        key = (what, namespace, broker, trigger)
        self._counters[key] = self._counters.get(key, 0) + n

    def counter(self, what: str, namespace: str, broker: str, trigger: str) -> int:
        """The current value of one emulator counter (tests and the benchmark read it)."""
        return self._counters.get((what, namespace, broker, trigger), 0)

    def render(self) -> str:
        lines: list[str] = []
        if self.schema == "legacy":
            self._render_legacy(lines)
        else:
            self._render_otel(lines)
        self._render_counters(lines)
        return "\n".join(lines) + "\n"

    def _render_legacy(self, lines: list[str]) -> None:
        lines.append("# HELP event_count Number of events received by a Broker or a Trigger")
        lines.append("# TYPE event_count counter")
        for labels, histogram in sorted(self._dispatch.items()):
            lines.append(f"event_count{{{_render_labels(labels)}}} {histogram.count}")
        self._render_histograms(
            lines, "event_dispatch_latencies", "The time spent dispatching an event", self._dispatch
        )
        self._render_histograms(
            lines,
            "event_processing_latencies",
            "The time spent processing an event before it is dispatched to a Trigger subscriber",
            self._process,
        )

    def _render_otel(self, lines: list[str]) -> None:
        self._render_histograms(
            lines,
            "kn_eventing_dispatch_duration_seconds",
            "The duration to dispatch the event",
            self._dispatch,
        )
        self._render_histograms(
            lines,
            "kn_eventing_process_duration_seconds",
            "The duration to process the event",
            self._process,
        )

    @staticmethod
    def _render_histograms(
        lines: list[str], name: str, help_text: str, table: dict[Labels, BucketHistogram]
    ) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} histogram")
        for labels, histogram in sorted(table.items()):
            histogram.render(name, _render_labels(labels), lines)

    def _render_counters(self, lines: list[str]) -> None:
        for what in COUNTERS:
            name = f"harness_eventing_{what}_events_total"
            if what == "replies":
                name = "harness_eventing_replies_total"
            lines.append(f"# TYPE {name} counter")
            for (kind, namespace, broker, trigger), n in sorted(self._counters.items()):
                if kind == what:
                    labels: Labels = (
                        ("broker_name", broker),
                        ("namespace_name", namespace),
                        ("trigger_name", trigger),
                    )
                    lines.append(f"{name}{{{_render_labels(labels)}}} {n}")


def series(text: str, name: str) -> Iterable[tuple[dict[str, str], float]]:
    """The samples of metric ``name`` in a /metrics text (for tests and the benchmark)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        labels: dict[str, str] = {}
        if "{" in head:
            body = head[head.index("{") + 1 : head.rindex("}")]
            for part in _split_labels(body):
                key, _, raw = part.partition("=")
                labels[key] = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        yield labels, float(value)


def _split_labels(body: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in body:
        if escaped:
            current.append(ch)
            escaped = False
            continue
        if ch == "\\":
            escaped = True
            current.append(ch)
            continue
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    if current:
        parts.append("".join(current))
    return parts
