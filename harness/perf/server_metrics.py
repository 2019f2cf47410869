"""The server's view of a perf run: a revision's Prometheus counters and its autoscaler.

Requests, errors and the latency histogram come from `harness.metrics` (a
`PrometheusSource` with the run's metric profile), read when the measured window opens
and again after it closes. The autoscaler's gauges are sampled over the window with
``query_range`` and kept as a compact series (at most `MAX_POINTS` points per gauge).
Knative names them differently by version (docs/emulator-dataplane.md, "Autoscaler"),
so both schemas are tried, legacy first:

| gauge        | Knative <= 1.18 (legacy)  | Knative >= 1.19 (OpenTelemetry) |
|--------------|---------------------------|---------------------------------|
| desired pods | ``autoscaler_desired_pods`` | ``kn_revision_pods_desired``  |
| actual pods  | ``autoscaler_actual_pods``  | ``kn_revision_pods_count``    |
| panic mode   | ``autoscaler_panic_mode``   | ``kn_revision_panic_mode``    |
| stable conc. | ``autoscaler_stable_request_concurrency`` | ``kn_revision_concurrency_stable`` |
| panic conc.  | ``autoscaler_panic_request_concurrency``  | ``kn_revision_concurrency_panic`` |
| target       | ``autoscaler_target_concurrency_per_pod`` | ``kn_revision_concurrency_target`` |

A schema is used when it has a series for any of them (the emulator exports both sets,
in the schema it runs with). Where neither has one, the result says so and carries no
numbers: nothing is ever made up.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.knative.names import require_dns_label
from harness.metrics.prometheus import PrometheusClient
from harness.metrics.source import PrometheusSource, RevisionCounters

__all__ = [
    "AUTOSCALER_SCHEMAS",
    "MAX_POINTS",
    "AutoscalerSchema",
    "ServerRecorder",
    "actual_pods",
    "autoscaler_series",
]

MAX_POINTS = 120
GAUGES = (
    "desired_pods",
    "actual_pods",
    "panic_mode",
    "stable_concurrency",
    "panic_concurrency",
    "target_concurrency",
)
# How long to wait after the load for Prometheus to scrape past its end (a scrape
# interval of up to a minute, plus slack).
SETTLE_TIMEOUT_S = 65.0
_SETTLE_POLL_S = 0.5
NO_SERIES_WAIT_S = 10.0


@dataclass(frozen=True)
class AutoscalerSchema:
    """Metric and label names of the autoscaler's gauges in one Knative metrics schema."""

    name: str
    desired_pods: str
    actual_pods: str
    panic_mode: str
    stable_concurrency: str
    panic_concurrency: str
    target_concurrency: str
    namespace_label: str
    revision_label: str

    def query(self, gauge: str, namespace: str, revision: str) -> str:
        """PromQL for one gauge of one revision (max over autoscaler replicas)."""
        metric = getattr(self, gauge)
        selector = (
            f'{self.namespace_label}="{require_dns_label(namespace, "namespace")}",'
            f'{self.revision_label}="{require_dns_label(revision, "revision")}"'
        )
        return f"max({metric}{{{selector}}})"


AUTOSCALER_SCHEMAS: tuple[AutoscalerSchema, ...] = (
    AutoscalerSchema(
        name="legacy",
        desired_pods="autoscaler_desired_pods",
        actual_pods="autoscaler_actual_pods",
        panic_mode="autoscaler_panic_mode",
        stable_concurrency="autoscaler_stable_request_concurrency",
        panic_concurrency="autoscaler_panic_request_concurrency",
        target_concurrency="autoscaler_target_concurrency_per_pod",
        namespace_label="namespace_name",
        revision_label="revision_name",
    ),
    AutoscalerSchema(
        name="otel",
        desired_pods="kn_revision_pods_desired",
        actual_pods="kn_revision_pods_count",
        panic_mode="kn_revision_panic_mode",
        stable_concurrency="kn_revision_concurrency_stable",
        panic_concurrency="kn_revision_concurrency_panic",
        target_concurrency="kn_revision_concurrency_target",
        namespace_label="k8s_namespace_name",
        revision_label="kn_revision_name",
    ),
)


def _client(url: str, timeout: float) -> PrometheusClient:
    # One quick retry: a Prometheus that refuses twice is down, and a longer back-off
    # would keep a perf run waiting for seconds before it can say so.
    return PrometheusClient(url, timeout=timeout, retries=1)


def actual_pods(url: str, namespace: str, revision: str, *, timeout: float = 5.0) -> float | None:
    """The revision's pod count as the autoscaler reports it now, or None without a series."""
    with _client(url, timeout) as client:
        for schema in AUTOSCALER_SCHEMAS:
            for sample in client.query(schema.query("actual_pods", namespace, revision)):
                if math.isfinite(sample.value):
                    return sample.value
    return None


def autoscaler_series(
    url: str,
    namespace: str,
    revision: str,
    start: float,
    end: float,
    *,
    timeout: float = 5.0,
) -> dict[str, Any]:
    """The autoscaler's gauges for ``revision`` between two Unix times.

    Returns ``{"available": True, "schema", "step_s", "series": {gauge: [[t, value],
    ...]}, "summary": {...}}`` with ``t`` in seconds since ``start`` and at most
    `MAX_POINTS` points per gauge, from the first schema that has a series; or
    ``{"available": False, "reason": ...}``. Raises ``Unavailable`` when Prometheus
    does not answer.
    """
    span = max(end - start, 0.0)
    step = max(1.0, math.ceil(span / MAX_POINTS))
    # The grid ends exactly at ``end``, so the last point is the state when the window
    # closed (a grid from ``start`` could stop up to a step short of it).
    first = end - math.floor(span / step) * step
    with _client(url, timeout) as client:
        for schema in AUTOSCALER_SCHEMAS:
            series: dict[str, list[list[float]]] = {}
            for gauge in GAUGES:
                result = client.query_range(
                    schema.query(gauge, namespace, revision), first, end, step
                )
                points = [
                    [round(t - start, 3), v]
                    for item in result
                    for t, v in item.points
                    if math.isfinite(v)
                ]
                if points:
                    series[gauge] = points[-MAX_POINTS:]
            if series:
                return {
                    "available": True,
                    "schema": schema.name,
                    "step_s": step,
                    "series": series,
                    "summary": _summary(series, step),
                }
    names = ", ".join(s.desired_pods for s in AUTOSCALER_SCHEMAS)
    return {
        "available": False,
        "reason": (
            f"no autoscaler series for {namespace}/{revision} in Prometheus "
            f"(looked for {names} and the other gauges of both schemas)"
        ),
    }


def _summary(series: Mapping[str, Sequence[Sequence[float]]], step: float) -> dict[str, float]:
    out: dict[str, float] = {}
    for gauge in ("desired_pods", "actual_pods"):
        values = [v for _, v in series.get(gauge, [])]
        if values:
            out[f"min_{gauge}"] = min(values)
            out[f"max_{gauge}"] = max(values)
    stable = [v for _, v in series.get("stable_concurrency", [])]
    if stable:
        out["max_stable_concurrency"] = max(stable)
    target = [v for _, v in series.get("target_concurrency", [])]
    if target:
        out["target_concurrency"] = target[-1]
    panic = [v for _, v in series.get("panic_mode", [])]
    if panic:
        out["panic_share"] = sum(1 for v in panic if v > 0) / len(panic)
        out["panic_s"] = sum(1 for v in panic if v > 0) * step
    return out


class ServerRecorder:
    """Reads a revision's server-side counters over a measured window.

    `begin` sets the zero point; `finish` waits (bounded) for Prometheus to scrape past
    the end of the load, then returns the counts and latency of the window plus the
    autoscaler's series. Both raise ``Unavailable`` when Prometheus stops answering.
    """

    def __init__(
        self,
        source: PrometheusSource,
        namespace: str,
        service: str,
        revisions: Sequence[str],
        tag: str = "",
    ) -> None:
        self.source = source
        self.namespace = namespace
        self.service = service
        self.revisions = tuple(revisions)
        self.tag = tag
        self._start: float | None = None

    def begin(self) -> None:
        """Open the window: the counters from now on are the run's."""
        self._start = time.time()
        for revision in self.revisions:
            self.source.read(self.namespace, self.service, revision, self.tag)

    def finish(self, settle_timeout_s: float = SETTLE_TIMEOUT_S) -> dict[str, Any]:
        """Close the window; the server record kept with the perf result (JSON-safe).

        ``complete`` is False when Prometheus had not scraped past the end of the load
        within ``settle_timeout_s`` (the last requests may then be missing).
        """
        if self._start is None:
            raise RuntimeError("ServerRecorder.finish before begin")
        end = time.time()
        complete = all(
            self._wait_for_scrape(name, end, end + settle_timeout_s) for name in self.revisions
        )
        revisions = {
            name: _counters_record(self.source.read(self.namespace, self.service, name, self.tag))
            for name in self.revisions
        }
        return {
            "prometheus": self.source.url,
            "profile": self.source.profile.name,
            "window": {"start": self._start, "end": end},
            "complete": complete,
            "revisions": revisions,
            "autoscaler": {
                name: autoscaler_series(self.source.url, self.namespace, name, self._start, end)
                for name in self.revisions
            },
        }

    def _wait_for_scrape(self, revision: str, end: float, deadline: float) -> bool:
        # The window's last requests are in Prometheus once a sample newer than the end
        # of the load landed (a real cluster scrapes every 15-60 s, the emulator every 1 s).
        profile = self.source.profile
        requests = profile.render(
            profile.requests,
            namespace=self.namespace,
            service=self.service,
            revision=revision,
            tag=self.tag,
        )
        query = f"max(timestamp({requests}))"
        client = self.source.client
        # A revision with no series yet may be one Prometheus has not discovered (a new
        # revision's first scrape can come seconds after its first request): wait a
        # little, but not the whole deadline, for a profile that has none for it at all.
        no_series_deadline = min(deadline, end + NO_SERIES_WAIT_S)
        while True:
            newest = max((sample.value for sample in client.query(query)), default=None)
            if newest is not None and newest >= end:
                return True
            if time.time() >= (no_series_deadline if newest is None else deadline):
                return newest is None
            time.sleep(_SETTLE_POLL_S)


def _counters_record(counters: RevisionCounters) -> dict[str, Any]:
    latency = counters.latency
    record: dict[str, Any] = {
        "requests": counters.requests,
        "errors": counters.errors,
        "series": counters.series,
        "latency": None,
    }
    if latency is not None and latency.count > 0:
        record["latency"] = latency.to_dict()
        for q in (0.5, 0.9, 0.99):
            value = latency.quantile(q)
            record[f"p{round(q * 100)}_ms"] = value if math.isfinite(value) else None
    return record
