"""`harness events`: CloudEvents load through a Broker with delivery accounting (issue 14).

harness events default -n default --rate 200 --duration 30s
harness events default --users 20 --mode structured --drain 1m --format json
harness events default --receiver http://receiver.default.svc.cluster.local --save
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from harness.commands.options import (
    Context,
    Format,
    Kubeconfig,
    Namespace,
    OutputFormat,
    StateDir,
)
from harness.errors import EXIT_ABORTED, BadInput

if TYPE_CHECKING:
    from harness.events.run import EventsOutcome
    from harness.store import Store

DEFAULT_USERS = 10


def events(
    broker: Annotated[str, typer.Argument(help="The Broker to send CloudEvents to.")],
    namespace: Namespace = "default",
    rate: Annotated[
        float | None,
        typer.Option("--rate", "-r", help="Events/s (open model: latency from due time)."),
    ] = None,
    users: Annotated[
        int | None,
        typer.Option("--users", "-u", help=f"Closed model: users (default {DEFAULT_USERS})."),
    ] = None,
    duration: Annotated[str, typer.Option("--duration", "-d", help="Send time (30s, 5m).")] = "30s",
    event_type: Annotated[str, typer.Option("--type", help="The events' type.")] = (
        "dev.knative.harness.event"
    ),
    source: Annotated[str, typer.Option("--source", help="The events' source.")] = (
        "knative-harness"
    ),
    mode: Annotated[
        str, typer.Option("--mode", help="HTTP content mode: binary or structured.")
    ] = "binary",
    drain: Annotated[
        str,
        typer.Option("--drain", help="Wait this long for deliveries before counting losses."),
    ] = "30s",
    ingress: Annotated[
        str | None,
        typer.Option("--ingress", help="Send via this ingress (http://IP:PORT), Host = broker's."),
    ] = None,
    receiver: Annotated[
        list[str] | None,
        typer.Option(
            "--receiver",
            help="Read deliveries from this receiver URL (repeat; default: subscriber's tags).",
        ),
    ] = None,
    shape: Annotated[
        str | None, typer.Option("--shape", help="Load shape: steady, ramp, spike or soak.")
    ] = None,
    max_events: Annotated[
        int | None, typer.Option("--events", help="Stop after this many events.")
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Per-event timeout (s).")] = 10.0,
    save: Annotated[
        bool, typer.Option("--save", help="Keep the run in history (for harness gate BROKER).")
    ] = False,
    label: Annotated[str | None, typer.Option("--label", help="Label of a saved run.")] = None,
    store: Annotated[
        str | None,
        typer.Option("--store", help="History (default: history.sqlite in the state dir)."),
    ] = None,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    state_dir: StateDir = None,
    output: Format = OutputFormat.text,
) -> None:
    """Send CloudEvents to BROKER, then count what its subscriber received.

    Reports sent, accepted (2xx from the broker), delivered, lost (only after --drain),
    duplicated, unexpected and dead-lettered events, publish and end-to-end delivery
    latency and throughput. The subscriber must run the sample app in receiver mode
    (EVENTS_RECEIVER=true); it is read through its tag URLs, or --receiver. Exit codes:
    0 done, 2 bad input or unreachable (nothing sent), 3 interrupted.
    """
    from harness.commands.load import _duration, _pacing
    from harness.events.cloudevent import EventShape
    from harness.events.discovery import read_broker
    from harness.events.run import EventsPlan, receiver_sources, run_events, sender_arm
    from harness.knative.names import require_dns_label
    from harness.target import open_target

    require_dns_label(broker, "broker")
    require_dns_label(namespace, "namespace")
    if label is not None:
        require_dns_label(label, "label")
    duration_s = _duration(duration)
    drain_s = _drain(drain)
    pacing = _pacing(users, rate, 0.0)
    event_shape = EventShape(type=event_type, source=source, mode=mode)
    event_shape.validate()
    if shape is not None and shape not in ("steady", "ramp", "spike", "soak"):
        raise BadInput(f"--shape {shape!r} must be steady, ramp, spike or soak")
    if max_events is not None and max_events < 1:
        raise BadInput("--events must be at least 1")
    plan = EventsPlan(
        namespace=namespace,
        broker=broker,
        shape=event_shape,
        pacing=pacing,
        duration_s=duration_s,
        drain_s=drain_s,
        load_shape=shape,
        max_events=max_events,
        timeout_s=timeout,
    )
    history = _open_store(store) if save else None
    say = _say(output)
    with open_target(kubeconfig, context, state_dir) as target:
        via = ingress or target.ingress
        info = read_broker(target.kubeconfig, context, namespace, broker)
        services = (
            []
            if receiver
            else [
                target.backend.get_service(namespace, name)
                for name in (*info.subscribers[:1], *info.dead_letter_services)
            ]
        )
        sources = receiver_sources(info, services, receiver or [], via)
        arm = sender_arm(info, via)
    started = time.time()
    outcome = run_events(plan, arm, sources, say=say)
    saved = None
    if history is not None:
        from harness.events.save import save_run

        spec = {
            "broker": broker,
            "namespace": namespace,
            "type": event_type,
            "source": source,
            "mode": mode,
            "rate": rate,
            "users": users,
            "duration": duration_s,
            "drain": drain_s,
            "shape": shape,
        }
        try:
            saved = save_run(
                history, namespace, broker, outcome.summary, spec, label=label, started=started
            )
        finally:
            history.close()
    if output is OutputFormat.json:
        document = outcome.summary.to_json()
        if saved is not None:
            document["saved_run"] = saved.id
        typer.echo(json.dumps(document, allow_nan=False))
    else:
        _print_text(outcome, saved.id if saved is not None else None)
    if outcome.summary.interrupted:
        raise typer.Exit(EXIT_ABORTED)


def _drain(text: str) -> float:
    from harness.config import parse_duration

    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise BadInput(f"--drain {text!r}: {exc}") from None
    if seconds < 0 or seconds > 3600:
        raise BadInput(f"--drain {text!r} must be between 0 and 1h")
    return seconds


def _open_store(location: str | None) -> Store:
    from harness.store import open_store

    return open_store(Path(location) if location and "://" not in location else location)


def _say(output: OutputFormat) -> Callable[[str], None]:
    def say(message: str) -> None:
        typer.echo(message, err=True)

    return say


def _print_text(outcome: EventsOutcome, saved: str | None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from harness.events.accounting import quantiles

    s = outcome.summary
    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:
        # On a pipe (a CI log) rich assumes 80 columns, which cut the counts' headers.
        console.width = max(console.width, 120)
    counts = Table(title=f"events (run {s.run})", show_edge=False)
    for name in (
        "sent",
        "accepted",
        "delivered",
        "lost",
        "duplicated",
        "unexpected",
        "dead-lettered",
        "events/s",
    ):
        counts.add_column(name, justify="right")
    counts.add_row(
        *(
            str(v)
            for v in (
                s.sent,
                s.accepted,
                s.delivered,
                s.lost,
                s.duplicated,
                s.unexpected,
                s.dead_lettered,
                f"{s.events_per_s:.1f}",
            )
        )
    )
    console.print(counts)
    latency = Table(show_edge=False)
    for name in ("latency (ms)", "p50", "p90", "p99", "max"):
        latency.add_column(name, justify="right")
    for name, hist in (("publish", s.publish_latency), ("delivery", s.delivery_latency)):
        q = quantiles(hist)
        latency.add_row(name, *(_fmt(q[k]) for k in ("p50", "p90", "p99", "max")))
    console.print(latency)
    if s.by_revision:
        per = Table(show_edge=False)
        for name in ("revision", "delivered", "attempts", "failures", "retries", "p50 ms"):
            per.add_column(name, justify="right")
        for rev, r in sorted(s.by_revision.items()):
            per.add_row(
                escape(rev),
                str(s.revisions.get(rev, 0)),
                str(r.attempts),
                str(r.failures),
                str(r.retries),
                _fmt(quantiles(r.processing)["p50"]),
            )
        console.print(per)
    if s.publish_failures:
        errors = ", ".join(f"{k} {v}" for k, v in s.publish_errors.items() if v)
        console.print(f"publish failures: {s.publish_failures} ({errors})")
    if outcome.overflow:
        console.print(f"warning: receivers dropped {outcome.overflow} records (memory bound)")
    if outcome.cpu_warning:
        console.print("warning: the load generator's CPU was saturated; rates may be low")
    console.print(
        f"saved as run {escape(saved)}"
        if saved
        else "not saved (use --save to keep it for harness gate)"
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def register(app: typer.Typer) -> None:
    """Add ``harness events`` to the CLI."""
    app.command("events")(events)
