"""`harness canary` and `harness rollback`: progressive delivery with analysis."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from harness.commands.judge_options import judge_option, judge_overrides
from harness.commands.options import Context, Kubeconfig, Namespace, StateDir

StorePath = Annotated[
    Path | None,
    typer.Option("--store", help="Run journal (default: history.sqlite in the state dir)."),
]


def canary(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="Knative Service to roll out.")] = "",
    from_: Annotated[
        str | None, typer.Option("--from", help="Baseline revision (hello-v1 or v1).")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Candidate revision (hello-v2 or v2).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML canary spec; flags override it.")
    ] = None,
    apply: Annotated[
        Path | None,
        typer.Option("--apply", help="Manifest creating the candidate revision at 0% (linted)."),
    ] = None,
    steps: Annotated[
        str | None,
        typer.Option(help="Candidate percents, e.g. 1,5,10,25,50,100, or 'knative'."),
    ] = None,
    step_interval: Annotated[
        str | None, typer.Option(help="Minimum time per step (e.g. 30s, 2m).")
    ] = None,
    look_interval: Annotated[str | None, typer.Option(help="Time between looks.")] = None,
    warmup: Annotated[str | None, typer.Option(help="Load time excluded from judging.")] = None,
    max_duration: Annotated[
        str | None, typer.Option(help="Cap on the whole run; then --on-inconclusive.")
    ] = None,
    rate: Annotated[float | None, typer.Option(help="Requests/s per arm (open model).")] = None,
    users: Annotated[int | None, typer.Option(help="Users per arm (closed model).")] = None,
    locustfile: Annotated[Path | None, typer.Option(help="Your own Locust user.")] = None,
    ingress: Annotated[
        str | None, typer.Option(help="Send load to this ingress (http://IP:PORT) with Host set.")
    ] = None,
    prometheus: Annotated[str | None, typer.Option(help="Prometheus URL.")] = None,
    metrics_profile: Annotated[
        str | None, typer.Option(help="legacy, otel, kourier, istio or custom.")
    ] = None,
    alpha: Annotated[float | None, judge_option("alpha")] = None,
    promote_alpha: Annotated[float | None, judge_option("promote_alpha")] = None,
    min_requests_per_arm: Annotated[int | None, judge_option("min_requests_per_arm")] = None,
    min_block_requests: Annotated[int | None, judge_option("min_block_requests")] = None,
    margin_error_ratio: Annotated[float | None, judge_option("margins.error_ratio")] = None,
    margin_error_abs: Annotated[float | None, judge_option("margins.error_abs")] = None,
    margin_median_ratio: Annotated[float | None, judge_option("margins.median_ratio")] = None,
    margin_tail_ratio: Annotated[float | None, judge_option("margins.tail_ratio")] = None,
    margin_tail_quantile: Annotated[float | None, judge_option("margins.tail_quantile")] = None,
    tolerance_error_ratio: Annotated[float | None, judge_option("tolerances.error_ratio")] = None,
    tolerance_median_ratio: Annotated[float | None, judge_option("tolerances.median_ratio")] = None,
    tolerance_tail_ratio: Annotated[float | None, judge_option("tolerances.tail_ratio")] = None,
    slo_error_rate: Annotated[float | None, judge_option("slos.error_rate")] = None,
    slo_latency_ms: Annotated[float | None, judge_option("slos.latency_ms")] = None,
    slo_latency_quantile: Annotated[float | None, judge_option("slos.latency_quantile")] = None,
    prior_rate_scale: Annotated[float | None, judge_option("priors.rate_scale")] = None,
    prior_shift_scale: Annotated[float | None, judge_option("priors.shift_scale")] = None,
    prior_bound_width: Annotated[float | None, judge_option("priors.bound_width")] = None,
    srm_alpha: Annotated[float | None, judge_option("srm_alpha")] = None,
    on_inconclusive: Annotated[
        str | None, typer.Option(help="rollback (default) or hold at the time cap.")
    ] = None,
    on_abort: Annotated[
        str | None, typer.Option(help="rollback (default) or hold on Ctrl-C or a lost dependency.")
    ] = None,
    dry_run: Annotated[
        bool | None, typer.Option("--dry-run", help="Judge and report; never patch traffic.")
    ] = None,
    confirm: Annotated[
        bool | None, typer.Option("--confirm", help="Ask before each traffic increase.")
    ] = None,
    report_dir: Annotated[Path | None, typer.Option(help="Where to write the report.")] = None,
    resume: Annotated[
        str | None, typer.Option("--resume", help="Continue an interrupted run by its id.")
    ] = None,
    pushgateway: Annotated[
        str | None,
        typer.Option(help="Push the run's status to this Pushgateway (http://HOST:9091)."),
    ] = None,
    gitops_check: Annotated[
        str | None,
        typer.Option(help="Argo CD / Flux owning the Service: warn (default), fail or off."),
    ] = None,
    events: Annotated[
        str | None,
        typer.Option(
            "--events", help="Send CloudEvents through this Broker instead of HTTP requests."
        ),
    ] = None,
    namespace: Namespace = "default",
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    state_dir: StateDir = None,
    store: StorePath = None,
) -> None:
    """Shift traffic from --from to --to step by step; judge after every look; act.

    The judge's flags are named after its settings (--margin-median-ratio sets
    margins.median_ratio, as in a YAML spec); docs/contracts.md has the table.

    Exit codes: 0 promoted, 1 rolled back, 2 bad input (nothing changed), 3 aborted or
    inconclusive (traffic restored unless told to hold).
    """
    from harness.canary.run import run_canary_command

    overrides: dict[str, Any] = {
        "service": service or None,
        "namespace": namespace,
        "baseline": from_,
        "candidate": to,
        "apply": apply,
        "steps": steps,
        "step_interval": step_interval,
        "look_interval": look_interval,
        "warmup": warmup,
        "max_duration": max_duration,
        "rate": rate,
        "users": users,
        "locustfile": locustfile,
        "ingress": ingress,
        "prometheus": prometheus,
        "metrics_profile": metrics_profile,
        "on_inconclusive": on_inconclusive,
        "on_abort": on_abort,
        "dry_run": dry_run,
        "confirm": confirm,
        "report_dir": report_dir,
        "store": store,
        "pushgateway": pushgateway,
        "gitops_check": gitops_check,
        "events": events,
        **judge_overrides(ctx.params),
    }
    code = run_canary_command(
        config=config,
        overrides=overrides,
        resume=resume,
        kubeconfig=kubeconfig,
        context=context,
        state_dir=state_dir,
    )
    raise typer.Exit(code)


def rollback(
    service: Annotated[str, typer.Argument(help="Knative Service whose last run to undo.")],
    namespace: Namespace = "default",
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    state_dir: StateDir = None,
    store: StorePath = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Take the run lease even from a run that looks alive elsewhere."
        ),
    ] = False,
) -> None:
    """Restore the traffic block from before the first of the last runs on SERVICE.

    That is the block before the newest canary run that changed traffic or, when earlier
    runs had left traffic changed when it started (killed, held), before the first of
    them. Exit codes: 0 restored, 2 nothing to restore or the Service is in use.
    """
    from harness.canary.rollback import run_rollback_command

    raise typer.Exit(
        run_rollback_command(
            service,
            namespace=namespace,
            kubeconfig=kubeconfig,
            context=context,
            state_dir=state_dir,
            store=store,
            force=force,
        )
    )


def register(app: typer.Typer) -> None:
    app.command("canary")(canary)
    app.command("rollback")(rollback)
