"""`harness perf`: a performance run against a Service, optionally kept in history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from harness.commands.options import Context, Format, Kubeconfig, Namespace, OutputFormat, StateDir

if TYPE_CHECKING:
    from harness.perf.run import PerfRun


def perf(
    service: Annotated[str, typer.Argument(help="Knative Service to load.")] = "",
    tag: Annotated[
        str | None, typer.Option(help="Load this tag's URL instead of the route.")
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(help="steady (default), ramp, spike, soak or cold-start."),
    ] = None,
    duration: Annotated[
        str | None, typer.Option(help="Measured time after the warm-up (e.g. 30s, 5m).")
    ] = None,
    warmup: Annotated[
        str | None, typer.Option(help="Load before the measured window (default 10s).")
    ] = None,
    users: Annotated[int | None, typer.Option(help="Users (closed model).")] = None,
    rate: Annotated[float | None, typer.Option(help="Requests/s (open model; default 20).")] = None,
    repetitions: Annotated[int, typer.Option(help="cold-start: first requests to measure.")] = 5,
    zero_timeout: Annotated[
        float,
        typer.Option(
            help="cold-start on a cluster or an emulator with --scale-to-zero: seconds to wait "
            "for zero pods."
        ),
    ] = 600.0,
    save: Annotated[
        bool | None, typer.Option("--save", help="Keep the run in history (for harness gate).")
    ] = None,
    label: Annotated[
        str | None, typer.Option(help="A name for the run in history (e.g. a release).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML perf spec; flags override it.")
    ] = None,
    locustfile: Annotated[Path | None, typer.Option(help="Your own Locust user.")] = None,
    ingress: Annotated[
        str | None, typer.Option(help="Send load to this ingress (http://IP:PORT) with Host set.")
    ] = None,
    prometheus: Annotated[
        str | None, typer.Option(help="Prometheus URL for server-side metrics.")
    ] = None,
    metrics_profile: Annotated[
        str | None, typer.Option(help="legacy, otel, kourier, istio or custom.")
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option("--store", help="History file (default: history.sqlite in the state dir)."),
    ] = None,
    report_dir: Annotated[
        Path | None, typer.Option(help="Where to write the report (default reports/<run-id>).")
    ] = None,
    pushgateway: Annotated[
        str | None,
        typer.Option(help="Push the run's status to this Pushgateway (http://HOST:9091)."),
    ] = None,
    namespace: Namespace = "default",
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    state_dir: StateDir = None,
    output: Format = OutputFormat.text,
) -> None:
    """Load SERVICE (or one --tag) for a while and report; --save keeps it in history.

    Exit codes: 0 done, 2 bad input or no cluster (nothing sent), 3 the run failed.
    """
    from harness.config import load_perf_spec
    from harness.perf.run import execute_perf

    spec = load_perf_spec(
        config,
        {
            "service": service or None,
            "namespace": namespace,
            "tag": tag,
            "profile": profile,
            "duration": duration,
            "warmup": warmup,
            "users": users,
            "rate": rate,
            "save": save,
            "label": label,
            "locustfile": locustfile,
            "ingress": ingress,
            "prometheus": prometheus,
            "metrics_profile": metrics_profile,
            "store": store,
            "report_dir": report_dir,
            "pushgateway": pushgateway,
        },
    )
    with _Progress(enabled=output is OutputFormat.text) as progress:
        result = execute_perf(
            spec,
            kubeconfig=kubeconfig,
            context=context,
            state_dir=state_dir,
            repetitions=repetitions,
            zero_timeout_s=zero_timeout,
            on_progress=progress.update,
        )
    from harness.metrics.run_status import push_perf

    push_perf(spec.pushgateway, result, lambda line: typer.echo(line, err=True))
    if output is OutputFormat.json:
        from harness.perf.outcome import perf_document

        document = perf_document(
            result.run,
            result.outcome,
            saved=result.saved,
            store=result.store,
            report=result.report,
        )
        typer.echo(json.dumps(document, indent=2, allow_nan=False, default=_plain))
    else:
        _print_text(result)


def _plain(value: Any) -> Any:
    return None if isinstance(value, float) else str(value)


class _Progress:
    """A rich progress bar on stderr while the run goes (terminals only, not in JSON mode)."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        from rich.console import Console

        console = Console(stderr=True)
        # Not on a pipe or a CI log: a live bar there is only stray control characters.
        if self.enabled and console.is_terminal:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("[bold]perf[/]"),
                BarColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.description}"),
                console=console,
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("starting", total=None)
        return self

    def update(self, done: float, total: float, message: str) -> None:
        """Move the bar to ``done`` of ``total`` with a short message."""
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total, description=message)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


def _print_text(result: PerfRun) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False, soft_wrap=True)
    run, outcome = result.run, result.outcome
    console.print(
        f"[bold]perf {escape(run.namespace)}/{escape(run.service)}[/] "
        f"({escape(outcome.profile)}, arm {escape(outcome.arm)}): run {escape(run.id)}"
    )
    for sentence in outcome.explanation():
        console.print(f"  {escape(sentence)}")
    if result.saved:
        console.print(f"saved in {escape(str(result.store))}")
    else:
        console.print("not saved (use --save to keep it in history for harness gate)")
    console.print(f"report: {escape(str(result.report['html']))}")


def register(app: typer.Typer) -> None:
    app.command("perf")(perf)
