"""Simulation results as people and programs read them: a table, JSON, an HTML report.

JSON (``--format json``)::

    {"trace": {"source", "kind", "seconds"},
     "variants": [{"name", "changes", "settings": {...}, "series": {"t", "desired_pods",
       "ready_pods", "panic", "activator_queue", "cold_starts", "delay_ms", "demand"},
       "summary": {"max_pods", "pod_seconds", "panic_seconds", "cold_starts",
       "delayed_requests", "p99_added_delay_ms", "requests"}}]}

The HTML report is one standalone file (inline SVG, no script): the trace, then pods
over time per variant with panic spans shaded, and the summary table.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Sequence
from typing import Any

from harness.autoscale.simulate import VariantRun
from harness.autoscale.trace import Trace

MAX_PLOT_POINTS = 600
COLUMNS = (
    ("variant", "name"),
    ("max pods", "max_pods"),
    ("pod-seconds", "pod_seconds"),
    ("panic s", "panic_seconds"),
    ("cold starts", "cold_starts"),
    ("delayed", "delayed_requests"),
    ("p99 added ms", "p99_added_delay_ms"),
)


def settings_dict(run: VariantRun) -> dict[str, Any]:
    """The effective settings of a run: the KPA's and the simulation's."""
    out: dict[str, Any] = dataclasses.asdict(run.settings)
    out["pod_start_s"] = run.options.pod_start_s
    out["service_time_s"] = run.options.service_time_s
    return out


def document(
    trace: Trace, runs: Sequence[VariantRun], changes: Sequence[dict[str, str]]
) -> dict[str, Any]:
    """The ``--format json`` document (shape in the module doc)."""
    return {
        "trace": {"source": trace.source, "kind": trace.kind, "seconds": trace.seconds},
        "variants": [
            {
                "name": run.name,
                "changes": dict(change),
                "settings": settings_dict(run),
                "series": run.series.to_dict(),
                "summary": run.summary.to_dict(),
            }
            for run, change in zip(runs, changes, strict=True)
        ],
    }


def table(runs: Sequence[VariantRun]) -> str:
    """The summary side by side: one row per variant."""
    rows = [[title for title, _ in COLUMNS]]
    for run in runs:
        values = run.summary.to_dict()
        rows.append([run.name] + [_cell(values[key]) for _, key in COLUMNS[1:]])
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: float | int) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def downsample(values: Sequence[float], limit: int = MAX_PLOT_POINTS) -> list[tuple[float, float]]:
    """At most ``limit`` (t, value) points: each bucket's maximum (peaks stay visible)."""
    n = len(values)
    if n <= limit:
        return [(float(t), float(v)) for t, v in enumerate(values)]
    size = -(-n // limit)
    return [(float(start), float(max(values[start : start + size]))) for start in range(0, n, size)]


def _spans(flags: Sequence[bool]) -> list[tuple[float, float]]:
    spans: list[tuple[float, float]] = []
    begin: int | None = None
    for t, flag in enumerate(flags):
        if flag and begin is None:
            begin = t
        elif not flag and begin is not None:
            spans.append((float(begin), float(t)))
            begin = None
    if begin is not None:
        spans.append((float(begin), float(len(flags))))
    return spans[:200]


def report_html(trace: Trace, runs: Sequence[VariantRun]) -> str:
    """The standalone HTML report."""
    from harness.report.svg import Series, line_chart

    unit = "requests/s" if trace.kind == "rps" else "requests in flight"
    charts = [
        line_chart(
            [Series("load", downsample(trace.values), markers=False)],
            plot_id="trace",
            title=f"Trace: {trace.source}",
            x_label="seconds",
            y_label=unit,
            y_low=0,
        )
    ]
    for run in runs:
        charts.append(
            line_chart(
                [
                    Series(
                        "desired pods",
                        downsample(run.series.desired_pods),
                        step=True,
                        markers=False,
                    ),
                    Series(
                        "ready pods",
                        downsample(run.series.ready_pods),
                        step=True,
                        markers=False,
                        dashed=True,
                    ),
                ],
                plot_id=f"pods-{run.name}",
                title=f"Pods: {run.name}",
                x_label="seconds",
                y_label="pods",
                y_low=0,
                spans=_spans(run.series.panic),
                span_label="panic mode",
            )
        )
    head = "".join(f"<th>{html.escape(title)}</th>" for title, _ in COLUMNS)
    body = []
    for run in runs:
        values = run.summary.to_dict()
        cells = [f"<td>{html.escape(run.name)}</td>"]
        cells += [f"<td>{_cell(values[key])}</td>" for _, key in COLUMNS[1:]]
        body.append("<tr>" + "".join(cells) + "</tr>")
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}"
        "table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px solid #ccc;"
        "text-align:right}td:first-child,th:first-child{text-align:left}"
        "svg{display:block;margin:1em 0}"
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Autoscaler what-if: {html.escape(trace.source)}</title>"
        f"<style>{style}</style></head><body>"
        f"<h1>Autoscaler what-if</h1><p>Trace {html.escape(trace.source)}: "
        f"{trace.seconds:,} s of {html.escape(unit)}.</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        + "".join(str(c) for c in charts)
        + "</body></html>\n"
    )
