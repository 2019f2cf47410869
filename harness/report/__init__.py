"""Reports for canary, perf and gate runs: HTML, JSON, JUnit XML and Markdown.

``write_report(data, out_dir)`` renders one `ReportData` into ``report.html``
(standalone: inline CSS and SVG, no script), ``report.json`` (`ReportData.to_dict`),
``junit.xml`` (a testcase per metric) and ``summary.md`` (for a CI job summary).
``update_index(root)`` lists the run folders under ``root`` in ``index.html``.
``report_from_canary_journal``/``report_from_perf_run`` build the data from the store.
Files are written atomically, so a reader never sees half a report.
"""

from __future__ import annotations

from harness.report.files import (
    DEFAULT_REPORTS_ROOT,
    INDEX_FILE,
    REPORT_FILES,
    report_dir_for,
    update_index,
    write_report,
)
from harness.report.journal import (
    report_from_canary_journal,
    report_from_perf_run,
    trend_from_history,
)
from harness.report.model import (
    REPORT_SCHEMA,
    ArmSummary,
    LookPoint,
    MetricRow,
    ReportData,
    RowStatus,
    TrafficPoint,
    TrendPoint,
)

__all__ = [
    "DEFAULT_REPORTS_ROOT",
    "INDEX_FILE",
    "REPORT_FILES",
    "REPORT_SCHEMA",
    "ArmSummary",
    "LookPoint",
    "MetricRow",
    "ReportData",
    "RowStatus",
    "TrafficPoint",
    "TrendPoint",
    "report_dir_for",
    "report_from_canary_journal",
    "report_from_perf_run",
    "trend_from_history",
    "update_index",
    "write_report",
]
