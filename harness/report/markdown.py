"""summary.md: a short Markdown summary fit for a CI job summary (GitHub, GitLab).

A heading with the outcome, the explanation sentences, one table row per metric and a
line of run facts. Text from outside is escaped for Markdown and for the HTML that
Markdown renderers let through (``<script>`` shows as text).
"""

from __future__ import annotations

from harness.report.format import format_duration, format_value
from harness.report.model import ReportData, RowStatus, outcome_class

__all__ = ["md_escape", "render_markdown"]

_ICONS = {"good": "✅", "bad": "❌", "neutral": "⚠️"}
_METRIC_ICONS = {
    RowStatus.PASS: "✅ pass",
    RowStatus.FAIL: "❌ fail",
    RowStatus.INCONCLUSIVE: "⚠️ inconclusive",
    RowStatus.ERROR: "⚠️ error",
}
# Punctuation that means something mid-line: emphasis, code, links, table cells,
# strikethrough and GitHub's math. (Our text never starts a line, so # - + . stay.)
_MD_SPECIAL = "\\`*_[]|~$"


def render_markdown(data: ReportData, html_name: str = "report.html") -> str:
    """The summary.md of a report; ``html_name`` is linked as the full report."""
    icon = _ICONS[outcome_class(data.status)]
    lines = [
        f"### {icon} {md_escape(data.title)}: {md_escape(data.status.replace('_', ' '))}",
        "",
    ]
    lines += [f"- {md_escape(sentence)}" for sentence in data.explanation]
    if data.explanation:
        lines.append("")
    if data.metrics:
        keys: list[str] = []
        for metric in data.metrics:
            keys += [key for key in metric.values if key not in keys]
        header = ["metric", "result", *(key.replace("_", " ") for key in keys), "detail"]
        lines.append("| " + " | ".join(md_escape(h) for h in header) + " |")
        lines.append("|" + "|".join("---" for _ in header) + "|")
        for metric in data.metrics:
            cells = [
                md_escape(metric.name),
                _METRIC_ICONS[metric.status],
                *(
                    md_escape(format_value(key, metric.values.get(key), metric.unit))
                    for key in keys
                ),
                md_escape(metric.message),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += _autoscaler_table(data)
    facts = [
        f"run {md_escape(data.run_id)}",
        md_escape(f"{data.namespace}/{data.service}"),
        f"decision: {md_escape(data.decision)}",
    ]
    if data.looks:
        facts.append(f"{len(data.looks)} looks")
    if data.duration_s is not None:
        facts.append(format_duration(data.duration_s))
    facts.append(f"full report: {md_escape(html_name)}")
    lines.append(" · ".join(facts))
    return "\n".join(lines) + "\n"


def _autoscaler_table(data: ReportData) -> list[str]:
    """One row per revision whose autoscaler series the run kept (the plots are in HTML)."""
    if not data.autoscaler:
        return []
    lines = [
        "| revision | desired pods | actual pods | stable concurrency (max) | target per pod "
        "| panic |",
        "|---|---|---|---|---|---|",
    ]
    for revision, record in data.autoscaler.items():
        series = record.get("series") or {}
        step = float(record.get("step_s") or 1.0)

        def values(gauge: str, series: dict[str, list[list[float]]] = series) -> list[float]:
            return [float(v) for _, v in series.get(gauge, [])]

        def span(gauge: str) -> str:
            found = values(gauge)
            if not found:
                return "-"
            low, high = min(found), max(found)
            return f"{low:g}" if low == high else f"{low:g}-{high:g}"

        stable, target = values("stable_concurrency"), values("target_concurrency")
        panic = sum(step for v in values("panic_mode") if v > 0)
        cells = [
            md_escape(revision),
            span("desired_pods"),
            span("actual_pods"),
            f"{max(stable):.3g}" if stable else "-",
            f"{target[-1]:.3g}" if target else "-",
            f"{panic:g}s" if values("panic_mode") else "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def md_escape(text: str) -> str:
    """``text`` as literal Markdown: one line, specials backslashed, HTML as entities."""
    text = " ".join(str(text).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "".join("\\" + char if char in _MD_SPECIAL else char for char in text)
