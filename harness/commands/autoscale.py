"""``harness autoscale``: replay load through Knative's KPA before changing an annotation.

``simulate TARGET --trace SOURCE [--set K=V]... [--variant NAME:K=V,...]...`` and
``explain TARGET``. Exit codes: 0 done, 2 bad input (one line on stderr).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from harness.commands.options import Context, Format, Kubeconfig, Namespace, OutputFormat, StateDir

if TYPE_CHECKING:
    from harness.autoscale.target import LoadedTarget
    from harness.knative.kpa_settings import AutoscalerConfig

autoscale_app = typer.Typer(
    name="autoscale",
    help="What Knative's autoscaler would do with a Service's settings under a load trace.",
    no_args_is_help=True,
)

Target = Annotated[
    str,
    typer.Argument(
        help="A Service manifest file (- for stdin) or [NAMESPACE/]NAME of a Service on the "
        "cluster or emulator."
    ),
]
ConfigPairs = Annotated[
    list[str] | None,
    typer.Option(
        "--config",
        help="config-autoscaler KEY=VALUE (cluster defaults, e.g. stable-window=60s); repeatable.",
    ),
]


@autoscale_app.command("simulate")
def simulate_command(
    target: Target,
    trace: Annotated[
        str,
        typer.Option(
            "--trace",
            help="Load: steady:rps=200,duration=10m | ramp:... | spike:... | diurnal:... | "
            "perf:RUN_ID | prometheus:REVISION?since=24h | a CSV file.",
        ),
    ],
    sets: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Change the baseline: KEY=VALUE[,KEY=VALUE] (annotation or containerConcurrency).",
        ),
    ] = None,
    variants: Annotated[
        list[str] | None,
        typer.Option(
            "--variant", help="A variant: NAME:KEY=VALUE,... of the baseline; repeatable."
        ),
    ] = None,
    config: ConfigPairs = None,
    pod_start: Annotated[
        str,
        typer.Option(
            "--pod-start",
            help="Time from a new pod to a ready one (e.g. 2s), or perf:RUN_ID of a saved "
            "cold-start run (its median first-request latency).",
        ),
    ] = "2s",
    service_time: Annotated[
        str | None,
        typer.Option(
            "--service-time",
            help="Mean time a request takes in the app (default: the perf run's mean "
            "latency, else 100ms).",
        ),
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the HTML report to this file.")
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option("--store", help="History file for perf:RUN_ID (default: the state dir's)."),
    ] = None,
    prometheus: Annotated[
        str | None,
        typer.Option(
            "--prometheus", help="Prometheus URL for prometheus: traces (default: the emulator's)."
        ),
    ] = None,
    namespace: Namespace = "default",
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    state_dir: StateDir = None,
    output: Format = OutputFormat.text,
) -> None:
    """Replay a load trace through Knative's KPA for the Service and each variant: pods,
    panic mode, activator queue, cold starts and added delay per second, and a summary."""
    from harness.autoscale.render import document, report_html, table
    from harness.autoscale.simulate import SimulationOptions, simulate
    from harness.autoscale.sources import cold_start_seconds, load_trace
    from harness.autoscale.trace import parse_seconds
    from harness.autoscale.variants import build_variants, cluster_config
    from harness.errors import BadInput

    cfg = cluster_config(config or [])
    store_text = str(store) if store else None
    if pod_start.startswith("perf:"):
        start_s = cold_start_seconds(pod_start.removeprefix("perf:"), store_text)
    else:
        start_s = parse_seconds(pod_start, "--pod-start")
    if not 0 <= start_s <= 3600:
        raise BadInput("--pod-start must be between 0s and 1h")
    loaded = _load(target, namespace, cfg, kubeconfig, context, state_dir)
    chosen = build_variants(loaded.knobs, sets or [], variants or [], cfg)
    url = prometheus
    if url is None and trace.startswith("prometheus:"):
        url = _emulator_prometheus(state_dir)
    load = load_trace(trace, store=store_text, prometheus=url)
    if service_time is not None:
        service_s = parse_seconds(service_time, "--service-time")
    else:
        service_s = load.service_time_s or 0.1
    if not 0.0001 <= service_s <= 600:
        raise BadInput("--service-time must be between 100us and 10m")
    options = SimulationOptions(pod_start_s=start_s, service_time_s=service_s)
    runs = [simulate(v.name, v.settings, load, options) for v in chosen]
    if report is not None:
        try:
            report.write_text(report_html(load, runs), encoding="utf-8")
        except OSError as exc:
            raise BadInput(f"--report {report}: {exc.strerror or exc}") from None
    if output is OutputFormat.json:
        typer.echo(json.dumps(document(load, runs, [dict(v.changes) for v in chosen])))
        return
    typer.echo(
        f"trace {load.source}: {load.seconds:,} s of "
        f"{'requests/s' if load.kind == 'rps' else 'in-flight requests'}; pods start in "
        f"{start_s:g}s, requests take {service_s * 1000:g}ms"
    )
    for variant in chosen[1:]:
        changes = ", ".join(f"{k}={v}" for k, v in variant.changes.items())
        typer.echo(f"  {variant.name}: {changes}")
    typer.echo(table(runs))
    if report is not None:
        typer.echo(f"report: {report}")


@autoscale_app.command("explain")
def explain_command(
    target: Target,
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", help="Change a knob first: KEY=VALUE[,KEY=VALUE]."),
    ] = None,
    config: ConfigPairs = None,
    namespace: Namespace = "default",
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    state_dir: StateDir = None,
    output: Format = OutputFormat.text,
) -> None:
    """Print the Service's effective autoscaler settings, defaults filled in, in plain
    words; warnings come from lint."""
    from harness.autoscale.explain import explain_document, explain_lines
    from harness.autoscale.variants import build_variants, cluster_config

    cfg = cluster_config(config or [])
    loaded = _load(target, namespace, cfg, kubeconfig, context, state_dir)
    baseline = build_variants(loaded.knobs, sets or [], [], cfg)[0]
    if output is OutputFormat.json:
        doc = explain_document(baseline.knobs, baseline.settings, cfg, loaded.warnings)
        typer.echo(json.dumps(doc, indent=2))
        return
    rows = explain_lines(baseline.knobs, baseline.settings, cfg)
    typer.echo(f"{baseline.knobs.where}:")
    width = max(len(r[0]) for r in rows)
    for knob, value, source, meaning in rows:
        typer.echo(f"  {knob.ljust(width)}  {value}  ({source})")
        typer.echo(f"  {' ' * width}  -> {meaning}")
    for warning in loaded.warnings:
        line = f"line {warning.line}: " if warning.line else ""
        typer.echo(f"warning: {line}{warning.field}: {warning.message} [{warning.rule}]")


def _load(
    target: str,
    namespace: str,
    cfg: AutoscalerConfig,
    kubeconfig: Path | None,
    context: str | None,
    state_dir: Path | None,
) -> LoadedTarget:
    from harness.autoscale.target import load_target
    from harness.knative.cluster import ClusterConfig

    cluster = ClusterConfig(
        allow_zero_initial_scale=cfg.allow_zero_initial_scale,
        pod_autoscaler_class=cfg.pod_autoscaler_class,
        max_scale_limit=cfg.max_scale_limit,
    )
    return load_target(
        target,
        namespace=namespace,
        cluster=cluster,
        kubeconfig=kubeconfig,
        context=context,
        state_dir=state_dir,
    )


def _emulator_prometheus(state_dir: Path | None) -> str | None:
    from harness.local.launcher import Emulator
    from harness.statedir import resolve_state_dir

    running = Emulator.status(resolve_state_dir(state_dir))
    return running.prometheus if running is not None else None


def register(app: typer.Typer) -> None:
    """Add the ``autoscale`` command group."""
    app.add_typer(autoscale_app, name="autoscale")
