"""Human output of ``harness lint``: ``file:line: severity field: message``, colored on a
terminal and plain otherwise (rich decides from the stream, and honours NO_COLOR)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from harness.knative.lint import FileReport, LintSummary
from harness.printable import printable

_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def format_report(report: FileReport) -> list[str]:
    """Plain lines for one file (no markup), control characters from the manifest escaped
    (`harness.printable`), so a finding cannot carry a terminal escape sequence."""
    if report.error:
        e = report.error
        where = f"{report.file}:{e.line}:{e.column}" if e.line else report.file
        return [printable(f"{where}: error: {e.message}")]
    return [
        printable(f"{report.file}:{f.line or 1}: {f.severity} {f.field}: {f.message}")
        for f in report.findings
    ]


def print_human(summary: LintSummary, console: Console | None = None) -> None:
    """Print every finding, then a one-line total on stderr."""
    # emoji=False: findings quote manifest values, whose ":x:" rich would make an emoji.
    out = console or Console(highlight=False, soft_wrap=True, emoji=False)
    for report in summary.reports:
        if report.error:
            out.print(f"[bold red]{escape(format_report(report)[0])}[/]")
            continue
        for finding, line in zip(report.findings, format_report(report), strict=True):
            prefix, _, rest = line.partition(f" {finding.severity} ")
            out.print(
                f"{escape(prefix)} [{_STYLE[finding.severity]}]{finding.severity}[/] {escape(rest)}"
            )
    counts = {s: 0 for s in _STYLE}
    for report in summary.reports:
        for f in report.findings:
            counts[f.severity] += 1
    unreadable = sum(1 for r in summary.reports if r.error)
    total = ", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items())
    tail = f", {unreadable} unreadable" if unreadable else ""
    n = len(summary.reports)
    Console(stderr=True, highlight=False, soft_wrap=True, emoji=False).print(
        f"{total}{tail} in {n} file{'s' if n != 1 else ''}"
    )
