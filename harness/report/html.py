"""HTML rendering: one Jinja2 template family for canary, perf and gate reports.

Autoescaping is on for every template, so names, messages and spec values from outside
are escaped; plots arrive as `Markup` from `svg.py`, which escapes their text itself.
Pages are standalone: inline CSS and SVG, no script, no external resource, and a
Content-Security-Policy that forbids both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import jinja2

from harness import __version__
from harness.report.format import format_duration, format_number, format_utc, format_value
from harness.report.model import ReportData, outcome_class
from harness.report.plots import report_plots

__all__ = ["IndexEntry", "render_index_html", "render_report_html"]

_TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class IndexEntry:
    """One row of reports/index.html: a run folder and what its report.json says."""

    name: str
    href: str
    run_id: str
    kind: str
    service: str
    revisions: str
    label: str | None
    status: str
    decision: str
    started: float | None

    @property
    def outcome(self) -> str:
        """``good``, ``bad`` or ``neutral``, for the status badge."""
        return outcome_class(self.status)


def render_report_html(data: ReportData) -> str:
    """The standalone report.html of a run."""
    value_keys: list[str] = []
    for metric in data.metrics:
        value_keys += [key for key in metric.values if key not in value_keys]
    arms: list[str] = []
    for look in data.looks:
        arms += [arm for arm in look.arms if arm not in arms]
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            data=data,
            outcome=outcome_class(data.status),
            plots=report_plots(data),
            value_keys=value_keys,
            arms=arms,
            spec_json=json.dumps(data.spec, indent=2, sort_keys=True, default=str),
            version=__version__,
        )
    )


def render_index_html(entries: list[IndexEntry]) -> str:
    """reports/index.html listing the given runs in the given order."""
    return _environment().get_template("index.html.j2").render(entries=entries, version=__version__)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["utc"] = format_utc
    env.filters["num"] = format_number
    env.globals["value"] = format_value
    env.filters["duration"] = format_duration
    return env
