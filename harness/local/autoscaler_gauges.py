"""The emulator autoscaler's gauges in Prometheus text format, in both metrics schemas.

Knative's autoscaler exports its decision per revision (desired and actual pods, panic
mode, stable/panic/target concurrency or rps, excess burst capacity); the legacy schema
names them ``autoscaler_*``, the otel schema ``kn_revision_*``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.knative.kpa import ScaleDecision
from harness.local.metrics import SCHEMAS, MetricsSchema


@dataclass(frozen=True)
class _Gauge:
    legacy: str
    otel: str
    help: str


_GAUGES: dict[str, _Gauge] = {
    "desired_pods": _Gauge(
        "autoscaler_desired_pods",
        "kn_revision_pods_desired",
        "Number of pods the autoscaler wants to allocate",
    ),
    "actual_pods": _Gauge(
        "autoscaler_actual_pods",
        "kn_revision_pods_count",
        "Number of pods that are allocated currently",
    ),
    "panic_mode": _Gauge(
        "autoscaler_panic_mode",
        "kn_revision_panic_mode",
        "1 if the autoscaler is in panic mode, 0 otherwise",
    ),
    "excess_burst_capacity": _Gauge(
        "autoscaler_excess_burst_capacity",
        "kn_revision_capacity_excess",
        "Excess burst capacity observed over the stable window",
    ),
    "stable_concurrency": _Gauge(
        "autoscaler_stable_request_concurrency",
        "kn_revision_concurrency_stable",
        "Average of request count per observed pod over the stable window",
    ),
    "panic_concurrency": _Gauge(
        "autoscaler_panic_request_concurrency",
        "kn_revision_concurrency_panic",
        "Average of request count per observed pod over the panic window",
    ),
    "target_concurrency": _Gauge(
        "autoscaler_target_concurrency_per_pod",
        "kn_revision_concurrency_target",
        "The desired number of concurrent requests for each pod",
    ),
    "stable_rps": _Gauge(
        "autoscaler_stable_requests_per_second",
        "kn_revision_rps_stable",
        "Average requests-per-second per observed pod over the stable window",
    ),
    "panic_rps": _Gauge(
        "autoscaler_panic_requests_per_second",
        "kn_revision_rps_panic",
        "Average requests-per-second per observed pod over the panic window",
    ),
    "target_rps": _Gauge(
        "autoscaler_target_requests_per_second",
        "kn_revision_rps_target",
        "The desired requests-per-second for each pod",
    ),
}
_OTEL_SCOPE = 'otel_scope_name="knative.dev/serving/pkg/autoscaler",otel_scope_version=""'


@dataclass(frozen=True)
class RevisionGauges:
    """The gauges of one revision, as exported."""

    namespace: str
    service: str
    configuration: str
    revision: str
    metric: str
    decision: ScaleDecision


def render_gauges(revisions: Sequence[RevisionGauges], schema: MetricsSchema) -> str:
    """The autoscaler's exposition in Prometheus text format 0.0.4.

    ``legacy``: ``autoscaler_*`` labelled ``namespace_name, service_name,
    configuration_name, revision_name`` (Knative's ``CommonRevisionKeys``; an empty
    service is ``unknown``). ``otel``: ``kn_revision_*`` labelled ``k8s_namespace_name,
    kn_service_name, kn_configuration_name, kn_revision_name`` plus the otel scope.
    """
    if schema not in SCHEMAS:
        raise ValueError(f"unknown metrics schema {schema!r}")
    rows: dict[str, list[str]] = {name: [] for name in _GAUGES}
    for item in sorted(revisions, key=lambda r: (r.namespace, r.revision)):
        labels = _labels(item, schema)
        d = item.decision
        values: dict[str, float] = {
            "desired_pods": d.desired_pods,
            "actual_pods": d.actual_pods,
            "panic_mode": 1 if d.panic_mode else 0,
            "excess_burst_capacity": d.excess_burst_capacity,
        }
        kind = "rps" if item.metric == "rps" else "concurrency"
        values[f"stable_{kind}"] = d.stable
        values[f"panic_{kind}"] = d.panic
        values[f"target_{kind}"] = d.target
        for key, value in values.items():
            name = getattr(_GAUGES[key], schema)
            rows[key].append(f"{name}{{{labels}}} {_number(value)}")
    lines: list[str] = []
    for key, gauge in _GAUGES.items():
        if not rows[key]:
            continue
        name = getattr(gauge, schema)
        lines += [f"# HELP {name} {gauge.help}", f"# TYPE {name} gauge", *rows[key]]
    return "\n".join(lines) + "\n" if lines else ""


def _labels(item: RevisionGauges, schema: MetricsSchema) -> str:
    service = item.service or "unknown"
    if schema == "legacy":
        pairs = (
            ("configuration_name", item.configuration),
            ("namespace_name", item.namespace),
            ("revision_name", item.revision),
            ("service_name", service),
        )
        return ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    pairs = (
        ("k8s_namespace_name", item.namespace),
        ("kn_configuration_name", item.configuration),
        ("kn_revision_name", item.revision),
        ("kn_service_name", service),
    )
    return ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "," + _OTEL_SCOPE


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
