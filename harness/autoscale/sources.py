"""Where a trace comes from: a shape, a CSV file, a saved perf run, or Prometheus.

``--trace SOURCE``:

- a shape (``steady:``, ``ramp:``, ``spike:``, ``diurnal:``; `harness.autoscale.trace`);
- ``perf:RUN_ID``: the per-second request rate and in-flight concurrency a
  ``harness perf`` run stored with its result (``load_series``), concurrency by default,
  ``perf:RUN_ID?metric=rps`` for the rate; its mean latency is the service time;
- ``prometheus:REVISION?since=24h[&namespace=default][&metric=rps|concurrency]``: a
  range query at 1 s steps of the revision's request rate (queue-proxy's request count,
  ``revision_request_count`` or ``http_server_request_duration_seconds_count`` joined
  with ``target_info``) or concurrency (the autoscaler's panic-window concurrency,
  ``autoscaler_panic_request_concurrency`` or ``kn_revision_concurrency_panic``), the
  first schema with data;
- anything else is a CSV file (``-`` reads stdin).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from urllib.parse import parse_qs

from harness.autoscale.trace import SHAPES, Trace, TraceKind, parse_csv, parse_seconds, synthetic
from harness.errors import BadInput
from harness.inputs import InputError, read_text
from harness.knative.names import require_dns_label, require_namespace
from harness.redact import redact_url

MAX_CSV_BYTES = 64 * 1024 * 1024
_RATE_WINDOW = "5s"

_RPS_QUERIES = {
    "legacy": 'sum(rate(revision_request_count{{namespace_name="{namespace}",'
    'revision_name="{revision}"}}[' + _RATE_WINDOW + "]))",
    "otel": "sum(rate(http_server_request_duration_seconds_count[" + _RATE_WINDOW + "])"
    ' * on(job, instance) group_left() target_info{{k8s_namespace_name="{namespace}",'
    'kn_revision_name="{revision}"}})',
}
_CONCURRENCY_QUERIES = {
    "legacy": 'max(autoscaler_panic_request_concurrency{{namespace_name="{namespace}",'
    'revision_name="{revision}"}})',
    "otel": 'max(kn_revision_concurrency_panic{{k8s_namespace_name="{namespace}",'
    'kn_revision_name="{revision}"}})',
}


def load_trace(source: str, *, store: str | None = None, prometheus: str | None = None) -> Trace:
    """The trace ``source`` names (see the module doc); BadInput for one that cannot be
    read, Unavailable when Prometheus does not answer."""
    scheme, sep, rest = source.partition(":")
    if sep and scheme in SHAPES:
        return synthetic(source)
    if sep and scheme == "perf":
        return perf_trace(rest, store)
    if sep and scheme == "prometheus":
        return prometheus_trace(rest, prometheus)
    if sep and scheme == "csv":
        source = rest
    elif sep and "/" not in scheme and not Path(source).exists():
        raise BadInput(
            f"trace {source}: unknown source {scheme + ':'!r} (use {', '.join(SHAPES)}, perf, "
            "prometheus, csv: or a CSV file)"
        )
    try:
        text = read_text(source, limit=MAX_CSV_BYTES)
    except InputError as exc:
        raise BadInput(f"trace {source}: {exc.message}") from None
    return parse_csv(text, "<stdin>" if source == "-" else source)


def _query(rest: str, what: str) -> tuple[str, dict[str, str]]:
    name, _, query = rest.partition("?")
    params: dict[str, str] = {}
    for key, values in parse_qs(query, keep_blank_values=True, strict_parsing=False).items():
        params[key] = values[-1]
    if query and not params:
        raise BadInput(f"{what}: cannot read the options {query!r} (use key=value&...)")
    return name, params


def _metric(params: dict[str, str], default: TraceKind, what: str) -> TraceKind:
    metric = params.pop("metric", default)
    if metric not in ("rps", "concurrency"):
        raise BadInput(f"{what}: metric must be rps or concurrency, not {metric!r}")
    return "rps" if metric == "rps" else "concurrency"


def perf_trace(rest: str, store: str | None) -> Trace:
    """``perf:RUN_ID[?metric=rps|concurrency]`` from the history store."""
    from harness.store import is_run_id, open_store

    what = f"trace perf:{rest}"
    run_id, params = _query(rest, what)
    kind = _metric(params, "concurrency", what)
    if params:
        raise BadInput(f"{what}: unknown option {sorted(params)[0]!r} (use metric=)")
    if not is_run_id(run_id):
        raise BadInput(f"{what}: {run_id!r} is not a run id")
    history = open_store(store)
    try:
        run = history.get_run(run_id)
    finally:
        history.close()
    if run.kind != "perf":
        raise BadInput(f"{what}: run {run_id} is a {run.kind} run, not a perf run")
    series = (run.summary or {}).get("load_series")
    if not isinstance(series, dict) or not series.get(kind):
        raise BadInput(
            f"{what}: the run has no per-second load series (runs store one since this "
            "version; cold-start runs have none)"
        )
    values = [float(v) for v in series[kind]]
    if not values or not all(math.isfinite(v) and v >= 0 for v in values):
        raise BadInput(f"{what}: the stored series is not usable")
    service = series.get("mean_latency_s")
    service_time = float(service) if isinstance(service, (int, float)) and service > 0 else None
    start = series.get("start_time")
    return Trace(
        source=f"perf:{run_id}",
        kind=kind,
        values=values,
        service_time_s=service_time,
        start_time=float(start) if isinstance(start, (int, float)) else None,
    )


def cold_start_seconds(run_id: str, store: str | None) -> float:
    """``--pod-start perf:RUN_ID``: the median first-request latency of a saved
    ``harness perf --profile cold-start`` run, in seconds (what a request arriving with
    no ready pod waited there)."""
    from harness.store import is_run_id, open_store

    what = f"--pod-start perf:{run_id}"
    if not is_run_id(run_id):
        raise BadInput(f"{what}: {run_id!r} is not a run id")
    history = open_store(store)
    try:
        run = history.get_run(run_id)
        results = history.load_perf_results(run_id)
    finally:
        history.close()
    if (run.summary or {}).get("profile") != "cold-start":
        raise BadInput(
            f"{what}: run {run_id} is not a cold-start run (harness perf --profile cold-start)"
        )
    medians = [r.stats["p50_ms"] for r in results.values() if "p50_ms" in r.stats]
    if not medians:
        raise BadInput(f"{what}: run {run_id} has no measured cold start")
    return float(medians[0]) / 1000.0


def prometheus_trace(rest: str, url: str | None, *, now: float | None = None) -> Trace:
    """``prometheus:REVISION?since=24h[&namespace=NS][&metric=rps|concurrency]``."""
    what = f"trace prometheus:{rest}"
    revision, params = _query(rest, what)
    revision = require_dns_label(revision, "revision")
    namespace = require_namespace(params.pop("namespace", "default"))
    kind = _metric(params, "rps", what)
    since = parse_seconds(params.pop("since", "1h"), f"{what} since")
    if params:
        raise BadInput(f"{what}: unknown option {sorted(params)[0]!r}")
    if not 1 <= since <= 7 * 24 * 3600:
        raise BadInput(f"{what}: since must be between 1s and 168h")
    if url is None:
        raise BadInput(f"{what}: no Prometheus (pass --prometheus URL, or start the emulator)")
    from harness.metrics.prometheus import PrometheusClient

    end = math.floor(now if now is not None else time.time())
    start = end - math.floor(since)
    queries = _RPS_QUERIES if kind == "rps" else _CONCURRENCY_QUERIES
    with PrometheusClient(url, timeout=10) as client:
        for schema, template in queries.items():
            query = template.format(namespace=namespace, revision=revision)
            points = [p for one in client.query_range(query, start, end, 1) for p in one.points]
            if points:
                values = [0.0] * (end - start + 1)
                for t, v in points:
                    index = round(t - start)
                    if 0 <= index < len(values) and math.isfinite(v) and v >= 0:
                        values[index] = v
                return Trace(
                    source=f"prometheus:{namespace}/{revision} ({schema}, {kind})",
                    kind=kind,
                    values=values,
                )
    raise BadInput(
        f"{what}: Prometheus at {redact_url(url)} has no {kind} series for revision "
        f"{namespace}/{revision} in the last {since:g}s (legacy or otel schema)"
    )
