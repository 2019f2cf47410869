"""Terminal output of `harness load`: the live view while load runs, and the summary table."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.table import Table

from harness.load.driver import LoadStatus
from harness.load.summary import RunSummary, figures

# Without a terminal (CI logs), one progress line this often instead of a live table.
_PLAIN_EVERY_S = 5.0


class LoadView:
    """Requests/s, errors, p50 and p99 per arm, refreshed from each `LoadStatus`."""

    def __init__(self, console: Console, duration_s: float) -> None:
        self._console = console
        self._duration_s = duration_s
        self._live: Live | None = None
        self._previous: LoadStatus | None = None
        self._last_plain = 0.0

    def __enter__(self) -> LoadView:
        self._last_plain = time.monotonic()
        if self._console.is_terminal:
            self._live = Live(console=self._console, transient=True, auto_refresh=False)
            self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)

    def update(self, status: LoadStatus) -> None:
        """Show ``status``; requests/s are measured since the previous update."""
        previous, self._previous = self._previous, status
        if self._live is not None:
            self._live.update(self._table(status, previous), refresh=True)
            return
        now = time.monotonic()
        if now - self._last_plain >= _PLAIN_EVERY_S:
            self._last_plain = now
            self._console.print(self._line(status, previous), highlight=False, markup=False)

    def _rates(self, status: LoadStatus, previous: LoadStatus | None) -> dict[str, float]:
        if previous is None or status.elapsed_s <= previous.elapsed_s:
            return {
                name: (s.requests / status.elapsed_s if status.elapsed_s > 0 else 0.0)
                for name, s in status.arms.items()
            }
        span = status.elapsed_s - previous.elapsed_s
        return {
            name: (s.requests - previous.arms[name].requests) / span
            if name in previous.arms
            else 0.0
            for name, s in status.arms.items()
        }

    def _table(self, status: LoadStatus, previous: LoadStatus | None) -> Table:
        table = Table(
            title=f"load {status.elapsed_s:5.1f}s / {self._duration_s:g}s   "
            f"users {status.users}   load generator CPU {status.cpu_percent:.0f}%",
            title_justify="left",
        )
        for column in ("arm", "req/s", "requests", "errors", "p50 ms", "p99 ms"):
            table.add_column(column, justify="left" if column == "arm" else "right")
        rates = self._rates(status, previous)
        for name, stats in status.arms.items():
            table.add_row(
                name,
                f"{rates[name]:.1f}",
                str(stats.requests),
                str(stats.failures),
                _fmt(stats.latency.quantile(0.5)),
                _fmt(stats.latency.quantile(0.99)),
            )
        return table

    def _line(self, status: LoadStatus, previous: LoadStatus | None) -> str:
        rates = self._rates(status, previous)
        arms = "  ".join(
            f"{name}: {rates[name]:.1f}/s {stats.requests} req {stats.failures} err "
            f"p50 {_fmt(stats.latency.quantile(0.5))} p99 {_fmt(stats.latency.quantile(0.99))} ms"
            for name, stats in status.arms.items()
        )
        return f"[{status.elapsed_s:6.1f}s] {arms}"


def print_summary(console: Console, summary: RunSummary) -> None:
    """The summary table (per arm and in total, latencies in ms), then errors by class and
    the revisions that answered each arm."""
    title = f"load summary: {summary.duration_s:.1f}s" + (
        " (interrupted)" if summary.interrupted else ""
    )
    table = Table(title=title, title_justify="left")
    for column in ("arm", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"):
        table.add_column(column, justify="left" if column == "arm" else "right")
    rows = [*summary.arms.items()]
    if len(rows) > 1:
        rows.append(("total", summary.total))
    for name, stats in rows:
        f = figures(stats, summary.duration_s)
        latency = f["latency_ms"]
        table.add_row(
            name,
            str(f["requests"]),
            f"{f['rps']:.1f}",
            *(_fmt(latency[key]) for key in ("p50", "p90", "p99", "max")),
            str(f["failures"]),
        )
    console.print(table)
    for name, stats in summary.arms.items():
        if stats.failures:
            console.print(
                f"arm {name} errors: 5xx {stats.errors_5xx}, 4xx {stats.errors_4xx}, "
                f"connection {stats.connection_errors}, timeout {stats.timeouts}",
                highlight=False,
            )
        if stats.revisions:
            shares = ", ".join(f"{rev} {n}" for rev, n in sorted(stats.revisions.items()))
            console.print(f"arm {name} answered by: {shares}", highlight=False)
    if summary.cpu_warning:
        console.print(
            "warning: the load generator's CPU went above 90%; latencies include client delay "
            "(add --workers)",
            highlight=False,
        )


def _fmt(value: float | None) -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"
