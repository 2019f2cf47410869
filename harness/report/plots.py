"""Which plots a report shows, drawn from `ReportData` with `svg.line_chart`.

Canary: traffic over time, e-values per look against the rollback threshold, error
rate and latency per arm per look, final latency distributions (CDF). Perf and gate:
latency distributions, the autoscaler over the run (pods, and concurrency against its
target, panic mode shaded) and trends across earlier runs. A plot without data is left out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from harness.report.model import ReportData, TrendPoint
from harness.report.svg import Series, line_chart

__all__ = ["Plot", "cdf_points", "report_plots"]

_MAX_CDF_POINTS = 400
# e-values far below 1 say "no evidence" and would squash the interesting range.
_EVALUE_FLOOR = 1e-2


@dataclass(frozen=True)
class Plot:
    """One figure: a stable id (``traffic``, ``evalues``...), a caption and the SVG."""

    plot_id: str
    caption: str
    svg: Markup


def report_plots(data: ReportData) -> list[Plot]:
    """The report's figures in reading order; empty when there is nothing to draw."""
    plots = [
        _traffic(data),
        _evalues(data),
        _error_rates(data),
        _latency_per_look(data),
        _latency_cdf(data),
        *_autoscaler(data),
        *_trends(data),
    ]
    return [plot for plot in plots if plot is not None]


def cdf_points(histogram: Mapping[str, Any]) -> list[tuple[float, float]]:
    """(latency ms, share of requests at or below it) at each non-empty bucket's bound.

    Exact at bucket bounds; the +inf bucket is placed at the recorded maximum when known.
    Thinned to at most 400 points. Empty for an empty histogram.
    """
    from analysis import Histogram

    hist = Histogram.from_dict(histogram)
    total = hist.count
    if total == 0:
        return []
    bounds = hist.upper_bounds
    counts = hist.counts
    points: list[tuple[float, float]] = []
    running = 0
    for index in range(len(bounds)):
        if counts[index] == 0:
            continue
        if not points and index > 0:
            points.append((float(bounds[index - 1]), 0.0))
        running += int(counts[index])
        bound = float(bounds[index])
        if math.isinf(bound):
            if hist.max is None:
                continue
            bound = max(hist.max, float(bounds[index - 1]) if index else hist.max)
        points.append((bound, running / total))
    stride = math.ceil(len(points) / _MAX_CDF_POINTS)
    return points[::stride] if stride > 1 else points


def _traffic(data: ReportData) -> Plot | None:
    points = [(p.t, float(p.percent)) for p in data.traffic] or [
        (look.t, float(look.percent)) for look in data.looks
    ]
    if not points:
        return None
    end = max(
        [points[-1][0], *(look.t for look in data.looks)]
        + ([data.duration_s] if data.duration_s is not None else [])
    )
    points.append((end, points[-1][1]))
    name = data.candidate or "candidate"
    svg = line_chart(
        [Series(f"{name} share", points, step=True)],
        plot_id="traffic",
        title="Traffic to the candidate",
        x_label="seconds since start",
        y_label="% of traffic",
        y_low=0,
        y_high=100,
    )
    return Plot("traffic", "The candidate's share of the main route over time.", svg)


def _evalues(data: ReportData) -> Plot | None:
    metrics = sorted({name for look in data.looks for name in look.e_values})
    if not metrics:
        return None
    series = [
        Series(
            metric,
            [(look.t, look.e_values[metric]) for look in data.looks if metric in look.e_values],
        )
        for metric in metrics
    ]
    thresholds = [look.threshold for look in data.looks if look.threshold]
    hlines = [(thresholds[-1], f"roll back at {thresholds[-1]:g}")] if thresholds else []
    values = [y for s in series for _, y in s.points if y is not None and y > 0]
    low = max(_EVALUE_FLOOR, min(values, default=1.0))
    svg = line_chart(
        series,
        plot_id="evalues",
        title="Evidence of a regression (e-values)",
        x_label="seconds since start",
        y_label="e-value (log)",
        log_y=True,
        y_low=10.0 ** math.floor(math.log10(min(low, 1.0))),
        hlines=hlines,
    )
    return Plot(
        "evalues",
        "Each metric's e-value at every look; crossing the threshold means roll back. "
        "The e-processes run across steps and are never restarted.",
        svg,
    )


def _arm_names(data: ReportData) -> list[str]:
    names: list[str] = []
    for look in data.looks:
        names += [name for name in look.arms if name not in names]
    return names


def _error_rates(data: ReportData) -> Plot | None:
    arms = _arm_names(data)
    if not arms:
        return None
    series = []
    for arm in arms:
        points = []
        for look in data.looks:
            rate = look.arms[arm].error_rate if arm in look.arms else None
            if rate is not None:
                points.append((look.t, 100.0 * rate))
        series.append(Series(arm, points))
    svg = line_chart(
        series,
        plot_id="error-rate",
        title="Error rate per arm (cumulative)",
        x_label="seconds since start",
        y_label="errors (%)",
        y_low=0,
    )
    return Plot("error-rate", "Share of failed requests per arm since the run began.", svg)


def _latency_per_look(data: ReportData) -> Plot | None:
    arms = _arm_names(data)
    series = []
    for color, arm in enumerate(arms):
        for quantile, dashed in (("p99", False), ("p50", True)):
            points = [
                (look.t, value)
                for look in data.looks
                if arm in look.arms
                and (value := getattr(look.arms[arm], f"{quantile}_ms")) is not None
            ]
            if points:
                series.append(Series(f"{arm} {quantile}", points, dashed=dashed, color=color))
    if not series:
        return None
    svg = line_chart(
        series,
        plot_id="latency-looks",
        title="Latency per arm (cumulative)",
        x_label="seconds since start",
        y_label="latency (ms)",
        y_low=0,
    )
    return Plot("latency-looks", "Median (dashed) and p99 (solid) latency per arm.", svg)


def _latency_cdf(data: ReportData) -> Plot | None:
    series = [
        Series(arm, points, color=color, markers=False)
        for color, (arm, histogram) in enumerate(data.histograms.items())
        if (points := cdf_points(histogram))
    ]
    if not series:
        return None
    svg = line_chart(
        series,
        plot_id="latency-cdf",
        title="Latency distribution per arm",
        x_label="latency (ms, log)",
        y_label="share of requests ≤ x",
        log_x=True,
        y_low=0,
        y_high=1,
    )
    return Plot(
        "latency-cdf",
        "Cumulative distribution of latencies per arm; a curve to the right is slower.",
        svg,
    )


def panic_spans(points: Sequence[Sequence[float]], step_s: float) -> list[tuple[float, float]]:
    """(start, end) of each stretch where the panic-mode series is above 0; a point holds
    until the next one (the last one for ``step_s``)."""
    spans: list[tuple[float, float]] = []
    ordered = sorted((float(t), float(v)) for t, v in points)
    for index, (t, value) in enumerate(ordered):
        if value <= 0:
            continue
        end = ordered[index + 1][0] if index + 1 < len(ordered) else t + step_s
        if spans and math.isclose(spans[-1][1], t):
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((t, end))
    return spans


def _points(series: Mapping[str, Any], gauge: str) -> list[tuple[float, float]]:
    return [(float(t), float(v)) for t, v in series.get(gauge, [])]


def _autoscaler(data: ReportData) -> list[Plot]:
    plots = []
    for revision, record in data.autoscaler.items():
        series = record.get("series") or {}
        step = float(record.get("step_s") or 1.0)
        spans = panic_spans(series.get("panic_mode", []), step)

        pods = [
            Series(
                name, _points(series, gauge), step=True, dashed=dashed, color=color, markers=False
            )
            for gauge, name, dashed, color in (
                ("desired_pods", "desired pods", False, 0),
                ("actual_pods", "actual pods", True, 1),
            )
            if series.get(gauge)
        ]
        if pods:
            plot_id = f"autoscaler-pods-{revision}"
            svg = line_chart(
                pods,
                plot_id=plot_id,
                title=f"Autoscaler: pods of {revision}",
                x_label="seconds since the measured window opened",
                y_label="pods",
                y_low=0,
                spans=spans,
                span_label="panic mode",
            )
            plots.append(
                Plot(
                    plot_id,
                    f"Pods the autoscaler wants for {revision} (desired) and the pods it "
                    "has (actual), over the run; shaded: panic mode.",
                    svg,
                )
            )
        concurrency = [
            Series(name, _points(series, gauge), dashed=dashed, color=color, markers=False)
            for gauge, name, dashed, color in (
                ("stable_concurrency", "stable window", False, 2),
                ("panic_concurrency", "panic window", True, 4),
            )
            if series.get(gauge)
        ]
        target = _points(series, "target_concurrency")
        if concurrency:
            plot_id = f"autoscaler-concurrency-{revision}"
            svg = line_chart(
                concurrency,
                plot_id=plot_id,
                title=f"Autoscaler: observed concurrency of {revision}",
                x_label="seconds since the measured window opened",
                y_label="requests in flight",
                y_low=0,
                hlines=[(target[-1][1], f"target {target[-1][1]:.3g} per pod")] if target else [],
                spans=spans,
                span_label="panic mode",
            )
            plots.append(
                Plot(
                    plot_id,
                    f"Concurrency the autoscaler observed for {revision}, averaged over its "
                    "stable and panic windows, against its per-pod target; desired pods = "
                    "ceil(observed / target).",
                    svg,
                )
            )
    return plots


def _trends(data: ReportData) -> list[Plot]:
    if not data.trend:
        return []
    keys: list[str] = []
    for point in data.trend:
        keys += [key for key in point.values if key not in keys]
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault("latency" if key.endswith("_ms") else key, []).append(key)
    labels = [
        (float(index), point.label or time.strftime("%m-%d %H:%M", time.gmtime(point.started)))
        for index, point in enumerate(data.trend)
    ]
    plots = []
    for group, members in groups.items():
        series = []
        for key in members:
            kept = [
                (index, point)
                for index, point in enumerate(data.trend)
                if point.values.get(key) is not None
            ]
            series.append(
                Series(
                    key.removesuffix("_ms").replace("_", " "),
                    [(float(index), point.values[key]) for index, point in kept],
                    point_labels=[_run_name(point) for _, point in kept],
                )
            )
        is_latency = group == "latency"
        plot_id = f"trend-{group.replace('_', '-')}"
        svg = line_chart(
            series,
            plot_id=plot_id,
            title=f"Trend across runs: {'latency' if is_latency else group.replace('_', ' ')}",
            x_label="run",
            y_label="ms" if is_latency else group.replace("_", " "),
            y_low=0,
            x_tick_labels=labels,
        )
        plots.append(
            Plot(plot_id, f"{group.replace('_', ' ')} of the last runs, oldest first.", svg)
        )
    return plots


def _run_name(point: TrendPoint) -> str:
    return f"{point.label} ({point.run_id})" if point.label else point.run_id
