"""`harness gate`: a CI release gate over the saved perf runs of a Service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from analysis.config import GateTolerances
from harness.commands.options import Format, Namespace, OutputFormat

if TYPE_CHECKING:
    from harness.gate.run import GateRun

# The defaults live in analysis.config; shown here as the flags take them.
_DEFAULT = GateTolerances()


def _percent(share: float) -> str:
    return f"{100 * share:g}%"


def gate(
    service: Annotated[str, typer.Argument(help="Knative Service whose saved runs to compare.")],
    against: Annotated[
        str,
        typer.Option(help="Reference: previous, last:N, run:<run-id> or label:<label>."),
    ] = "previous",
    tag: Annotated[
        str | None, typer.Option(help="Only runs that loaded this tag (default: any).")
    ] = None,
    candidate: Annotated[
        str | None, typer.Option(help="Candidate run id (default: the newest saved run).")
    ] = None,
    max_p50_increase: Annotated[
        str, typer.Option(help="Tolerated p50 increase (share: 5% or 0.05).")
    ] = _percent(_DEFAULT.quantile(0.5)),
    max_p90_increase: Annotated[str, typer.Option(help="Tolerated p90 increase.")] = _percent(
        _DEFAULT.quantile(0.9)
    ),
    max_p99_increase: Annotated[str, typer.Option(help="Tolerated p99 increase.")] = _percent(
        _DEFAULT.quantile(0.99)
    ),
    max_error_rate_increase: Annotated[
        str,
        typer.Option(help="Tolerated error-rate increase in points (0.1% = 0.001)."),
    ] = _percent(_DEFAULT.error_rate),
    alpha: Annotated[
        float, typer.Option(help="False-alarm rate across the metrics (Benjamini–Hochberg).")
    ] = _DEFAULT.alpha,
    min_requests: Annotated[
        int, typer.Option(help="Requests each run needs before its error rate is judged.")
    ] = _DEFAULT.min_requests,
    store: Annotated[
        Path | None,
        typer.Option("--store", help="History file (default: history.sqlite in the state dir)."),
    ] = None,
    report_dir: Annotated[
        Path | None, typer.Option(help="Where to write the report (default reports/<gate-id>).")
    ] = None,
    pushgateway: Annotated[
        str | None,
        typer.Option(help="Push the gate's result to this Pushgateway (http://HOST:9091)."),
    ] = None,
    namespace: Namespace = "default",
    output: Format = OutputFormat.text,
) -> None:
    """Compare the newest saved perf run of SERVICE with a reference run from history.

    Exit codes: 0 pass, 1 regression, 2 bad input, 3 not enough data.
    """
    from harness.gate.run import execute_gate, parse_share, tolerances
    from harness.metrics.pushgateway import check_url
    from harness.metrics.run_status import push_gate

    if pushgateway is not None:
        pushgateway = check_url(pushgateway)

    tol = tolerances(
        error_rate=parse_share(max_error_rate_increase, "--max-error-rate-increase", 1.0),
        p50=parse_share(max_p50_increase, "--max-p50-increase"),
        p90=parse_share(max_p90_increase, "--max-p90-increase"),
        p99=parse_share(max_p99_increase, "--max-p99-increase"),
        alpha=alpha,
        min_requests=min_requests,
    )
    result = execute_gate(
        service,
        namespace,
        against,
        tol,
        store=store,
        tag=tag,
        candidate_id=candidate,
        report_dir=report_dir,
    )
    push_gate(pushgateway, result.outcome, lambda line: typer.echo(line, err=True))
    if output is OutputFormat.json:
        from harness.gate.report import gate_document

        document = gate_document(result.outcome, result.report)
        typer.echo(json.dumps(document, indent=2, allow_nan=False))
    else:
        _print_text(result)
    raise typer.Exit(result.outcome.exit_code)


def _print_text(result: GateRun) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from harness.gate.report import report_metric
    from harness.report import RowStatus
    from harness.statuses import GateVerdict

    outcome = result.outcome
    console = Console(highlight=False, soft_wrap=True)
    table = Table(show_edge=False, pad_edge=False)
    for column in ("metric", "result", "reference", "candidate", "change", "tolerated", "p (BH)"):
        table.add_column(column, no_wrap=column in ("metric", "result"))
    styles = {RowStatus.PASS: "green", RowStatus.FAIL: "bold red"}
    shown = {RowStatus.PASS: "pass", RowStatus.FAIL: "FAIL"}
    for metric in outcome.metrics:
        row = report_metric(metric)
        table.add_row(
            escape(row.name),
            f"[{styles.get(row.status, 'yellow')}]{shown.get(row.status, 'skipped')}[/]",
            *(
                escape(_cell(row.values.get(key), unit))
                for key, unit in (
                    ("reference", f" {row.unit}"),
                    ("candidate", f" {row.unit}"),
                    ("change", ""),
                    ("limit", ""),
                    ("p_adjusted", ""),
                )
            ),
        )
    console.print(table)
    for sentence in outcome.explanation():
        console.print(f"  {escape(sentence)}")
    verdict = {
        GateVerdict.PASSED: "[green]passed[/]",
        GateVerdict.REGRESSION: "[bold red]regression[/]",
    }.get(outcome.status, "[yellow]inconclusive (not enough data)[/]")
    console.print(f"gate {escape(outcome.service)}: {verdict}")
    console.print(f"report: {escape(str(result.report['html']))}")


def _cell(value: object, unit: str) -> str:
    if value is None:
        return "–"
    return f"{value:.4g}{unit}" if isinstance(value, float) else str(value)


def register(app: typer.Typer) -> None:
    app.command("gate")(gate)
