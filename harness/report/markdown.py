"""summary.md: a short Markdown summary fit for a CI job summary (GitHub, GitLab).

A heading with the outcome, the explanation sentences, one table row per metric and a
line of run facts. Text from outside is escaped for Markdown and for the HTML that
Markdown renderers let through (``<script>`` shows as text).
"""

from __future__ import annotations

from harness.report.format import format_duration, format_value
from harness.report.model import ReportData, outcome_class

__all__ = ["md_escape", "render_markdown"]

_ICONS = {"good": "✅", "bad": "❌", "neutral": "⚠️"}
_METRIC_ICONS = {
    "pass": "✅ pass",
    "fail": "❌ fail",
    "inconclusive": "⚠️ inconclusive",
    "error": "⚠️ error",
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


def md_escape(text: str) -> str:
    """``text`` as literal Markdown: one line, specials backslashed, HTML as entities."""
    text = " ".join(str(text).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "".join("\\" + char if char in _MD_SPECIAL else char for char in text)
