"""`harness load`: load only — a Service's tags (or a plain URL), a live view, a summary.

harness load SVC --tag v1 --tag v2 [--ingress http://IP:PORT]
harness load --url http://127.0.0.1:8080/ --rate 200 --duration 1m --format json
harness load --url ... --workers 2                 # local Locust workers
harness load --url ... --master --expect-workers 4 # workers elsewhere connect here
harness load --worker --master-host 10.0.0.5       # one of those workers
harness load manifests --workers 4 --url ...       # in-cluster workers (Kubernetes YAML)
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from harness.commands.options import Context, Format, Kubeconfig, Namespace, OutputFormat, StateDir
from harness.errors import EXIT_ABORTED, BadInput

if TYPE_CHECKING:
    from harness.load.plan import Distribution, Pacing, UserCode
    from harness.load.summary import RunSummary
    from harness.load.targets import Arm

DEFAULT_USERS = 10
_REFRESH_S = 0.25  # a snapshot costs about a millisecond
MANIFESTS = "manifests"
_NAMED_URL = re.compile(r"^([^=/:]+)=(https?://.*)$")


class _LoadGroup(TyperGroup):
    """``harness load ...`` runs load; only ``harness load manifests ...`` is a subcommand."""

    # ``ctx`` is typer's vendored click Context, whose class lives in a private module.
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] != MANIFESTS:
            args = ["run", *args]
        return super().parse_args(ctx, args)


load_app = typer.Typer(
    cls=_LoadGroup,
    no_args_is_help=True,
    help="Send load to a Service's tags or a URL; `harness load manifests` for in-cluster workers.",
)

Tags = Annotated[
    list[str] | None,
    typer.Option("--tag", "-t", help="A traffic tag of SERVICE to load (repeat for more arms)."),
]
Urls = Annotated[
    list[str] | None,
    typer.Option("--url", help="A URL to load, optionally NAME=URL (repeat for more arms)."),
]
Ingress = Annotated[
    str | None,
    typer.Option(
        "--ingress", help="Send to this ingress (http://IP:PORT) with Host set to the arm's host."
    ),
]
Duration = Annotated[str, typer.Option("--duration", "-d", help="Run time (30s, 5m, 1h).")]
Users = Annotated[
    int | None,
    typer.Option("--users", "-u", help=f"Users per arm (closed model; default {DEFAULT_USERS})."),
]
Rate = Annotated[
    float | None,
    typer.Option("--rate", "-r", help="Requests/s per arm (open model: latency from due time)."),
]
Wait = Annotated[float, typer.Option("--wait", help="Closed model: think time per user (s).")]
Requests = Annotated[
    int | None, typer.Option("--requests", help="Stop after this many requests in all.")
]
Timeout = Annotated[float, typer.Option("--timeout", help="Per-request timeout (s).")]
Shape = Annotated[
    str | None, typer.Option("--shape", help="Load shape: steady, ramp, spike or soak.")
]
Locustfile = Annotated[
    Path | None,
    typer.Option("--locustfile", "-f", help="Your own Locust user classes (sent to every arm)."),
]
Workers = Annotated[
    int, typer.Option("--workers", "-w", help="Run users in N local Locust worker processes.")
]
MasterPort = Annotated[int, typer.Option("--master-port", help="Master port for workers.")]


@load_app.command("run")
def run(
    service: Annotated[
        str | None, typer.Argument(help="Knative Service whose tags (or route) to load.")
    ] = None,
    tag: Tags = None,
    url: Urls = None,
    ingress: Ingress = None,
    duration: Duration = "30s",
    users: Users = None,
    rate: Rate = None,
    wait: Wait = 0.0,
    requests: Requests = None,
    timeout: Timeout = 10.0,
    shape: Shape = None,
    locustfile: Locustfile = None,
    workers: Workers = 0,
    master: Annotated[
        bool, typer.Option("--master", help="Wait for --expect-workers remote workers.")
    ] = False,
    expect_workers: Annotated[
        int, typer.Option("--expect-workers", help="With --master: workers to wait for.")
    ] = 0,
    master_bind_host: Annotated[
        str, typer.Option("--master-bind-host", help="With --master: address to listen on.")
    ] = "0.0.0.0",
    master_port: MasterPort = 5557,
    worker_wait: Annotated[
        float, typer.Option("--worker-wait", help="Seconds to wait for workers to connect.")
    ] = 120.0,
    worker: Annotated[
        bool, typer.Option("--worker", help="Be a worker of the master at --master-host.")
    ] = False,
    master_host: Annotated[
        str | None, typer.Option("--master-host", help="With --worker: the master's address.")
    ] = None,
    namespace: Namespace = "default",
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    state_dir: StateDir = None,
    output: Format = OutputFormat.text,
) -> None:
    """Load SERVICE's tags (arm per --tag; the route without one) or --url, then summarise.

    Closed model with --users (each user waits for its answer), open model with --rate
    (requests are due on a schedule and latency counts from when they were due). Every
    run is bounded by --duration (and --requests). Ctrl-C stops the run and still prints
    the summary. Exit codes: 0 done, 2 bad input or unreachable target (nothing sent),
    3 interrupted or the load generator failed.
    """
    if worker:
        _exec_worker(master_host, master_port, service, tag, url)
    from harness.load.plan import Distribution

    if master and expect_workers < 1:
        raise BadInput("--master needs --expect-workers N (N >= 1)")
    if not master and expect_workers:
        raise BadInput("--expect-workers goes with --master")
    distribution = Distribution(
        local_workers=workers,
        remote_workers=expect_workers,
        bind_host=master_bind_host if master else "127.0.0.1",
        port=master_port if master else 0,
        wait_s=worker_wait,
    )
    duration_s = _duration(duration)
    pacing = _pacing(users, rate, wait)
    user_code = _user_code(locustfile)
    arms = _arms(service, tag or [], url or [], ingress, namespace, kubeconfig, context, state_dir)
    summary = _run_load(
        arms, pacing, duration_s, requests, timeout, shape, user_code, distribution, output
    )
    if summary.interrupted:
        raise typer.Exit(EXIT_ABORTED)


@load_app.command(MANIFESTS)
def manifests(
    workers: Annotated[int, typer.Option("--workers", "-w", help="Worker pods.")] = 2,
    url: Urls = None,
    ingress: Ingress = None,
    duration: Duration = "5m",
    users: Users = None,
    rate: Rate = None,
    master_host: Annotated[
        str | None,
        typer.Option(
            "--master-host", help="A master outside the cluster (default: a master Job in it)."
        ),
    ] = None,
    master_port: MasterPort = 5557,
    image: Annotated[
        str | None,
        typer.Option(
            "--image",
            help="Image (default knative-harness:0.1.0; with --operator locustio/locust:VERSION).",
        ),
    ] = None,
    operator: Annotated[
        bool,
        typer.Option("--operator", help="One LocustTest for the Locust Kubernetes operator."),
    ] = False,
    namespace: Namespace = "default",
) -> None:
    """Print Kubernetes manifests: N worker pods connecting to a master (a Job, or --master-host).

    Apply them with `kubectl apply -f -`; the master Job prints its summary as JSON in
    its log (`kubectl logs job/harness-load-master`). With --operator: a LocustTest
    (locust.io/v1) that the official Locust operator runs in plain Locust.
    """
    from harness.load.manifests import operator_image, render_locust_test, render_manifests

    if operator:
        if master_host is not None:
            raise BadInput("--master-host: the Locust operator runs its own master")
        if not url:
            raise BadInput("give the targets (--url) for the LocustTest")
        typer.echo(
            render_locust_test(
                arms=_arms(None, [], url, ingress, "default", None, None, None, resolve=False),
                pacing=_pacing(users, rate, 0.0),
                duration_s=_duration(duration),
                workers=workers,
                namespace=namespace,
                image=image or operator_image(),
            ),
            nl=False,
        )
        return

    load_args: list[str] = []
    for value in url or []:
        load_args += ["--url", value]
    if ingress:
        load_args += ["--ingress", ingress]
    load_args += ["--duration", duration]
    if users is not None:
        load_args += ["--users", str(users)]
    if rate is not None:
        load_args += ["--rate", str(rate)]
    if master_host is None and not url:
        raise BadInput("give the targets (--url) for the master Job, or --master-host")
    if url:
        _arms(None, [], url, ingress, "default", None, None, None, resolve=False)
    _duration(duration)
    _pacing(users, rate, 0.0)
    typer.echo(
        render_manifests(
            workers=workers,
            namespace=namespace,
            image=image or "knative-harness:0.1.0",
            master_host=master_host,
            master_port=master_port,
            load_args=load_args,
        ),
        nl=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``harness load`` to the CLI."""
    app.add_typer(load_app, name="load")


# ---------------------------------------------------------------------- helpers
def _duration(text: str) -> float:
    from harness.config import parse_duration

    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise BadInput(f"--duration {text!r}: {exc}") from None
    if seconds <= 0:
        raise BadInput(f"--duration {text!r} must be longer than zero")
    return seconds


def _pacing(users: int | None, rate: float | None, wait: float) -> Pacing:
    from harness.load.plan import Pacing

    if rate is not None:
        if wait:
            raise BadInput("--wait applies to the closed model (--users) only, not to --rate")
        return Pacing.open(rate, users)
    return Pacing.closed(users if users is not None else DEFAULT_USERS, wait)


def _user_code(path: Path | None) -> UserCode | None:
    from harness.load.plan import read_user_code

    return read_user_code(path)


def _arms(
    service: str | None,
    tags: list[str],
    urls: list[str],
    ingress: str | None,
    namespace: str,
    kubeconfig: Path | None,
    context: str | None,
    state_dir: Path | None,
    *,
    resolve: bool = True,
) -> list[Arm]:
    from harness.load.targets import URL_ARM_NAME, require_unique_names, url_arm

    if service and urls:
        raise BadInput("give either SERVICE (with --tag) or --url, not both")
    if urls:
        if tags:
            raise BadInput("--tag goes with SERVICE, not with --url")
        arms = []
        for index, value in enumerate(urls):
            named = _NAMED_URL.match(value)
            if named:
                arms.append(url_arm(named.group(2), named.group(1), ingress))
            else:
                name = URL_ARM_NAME if index == 0 else f"{URL_ARM_NAME}-{index + 1}"
                arms.append(url_arm(value, name, ingress))
        require_unique_names(arms)
        return arms
    if not service:
        raise BadInput("no target: give SERVICE (with --tag) or --url")
    if not resolve:
        return []
    return _service_arms(service, tags, ingress, namespace, kubeconfig, context, state_dir)


def _service_arms(
    service: str,
    tags: list[str],
    ingress: str | None,
    namespace: str,
    kubeconfig: Path | None,
    context: str | None,
    state_dir: Path | None,
) -> list[Arm]:
    from harness.knative.names import require_dns_label
    from harness.load.targets import service_arms
    from harness.target import open_target

    require_dns_label(service, "service")
    require_dns_label(namespace, "namespace")
    for tag in tags:
        require_dns_label(tag, "tag")
    with open_target(kubeconfig, context, state_dir) as target:
        if ingress is None:
            # The emulator's hosts (*.example.com) resolve nowhere: go through its ingress.
            ingress = target.ingress
        state = target.backend.get_service(namespace, service)
    return service_arms(state, tags, ingress)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops a run as Ctrl-C does: the summary is still printed."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_load(
    arms: list[Arm],
    pacing: Pacing,
    duration_s: float,
    max_requests: int | None,
    timeout_s: float,
    shape: str | None,
    user_code: UserCode | None,
    distribution: Distribution,
    output: OutputFormat,
) -> RunSummary:
    from rich.console import Console

    from harness.load.driver import LoadDriver
    from harness.load.render import LoadView, print_summary
    from harness.load.summary import RunSummary

    # soft_wrap: on a pipe (a CI log) rich assumes 80 columns and would break each
    # progress line of two arms in the middle.
    stderr = Console(stderr=True, highlight=False, soft_wrap=True)
    interrupted = False
    with LoadDriver(distribution) as driver, _sigterm_as_interrupt():
        driver.start(
            arms,
            pacing,
            duration_s,
            max_requests,
            timeout_s=timeout_s,
            shape=shape,
            user_code=user_code,
        )
        try:
            with LoadView(stderr, duration_s) as view:
                status = driver.status()
                while not status.finished:
                    view.update(status)
                    time.sleep(_REFRESH_S)
                    status = driver.status()
        except KeyboardInterrupt:
            interrupted = True
            stderr.print("interrupted: stopping the users and collecting the results")
        final = driver.finish()
    summary = RunSummary(
        arms=final.arms,
        duration_s=final.elapsed_s,
        interrupted=interrupted,
        cpu_warning=final.cpu_warning,
    )
    if output is OutputFormat.json:
        typer.echo(json.dumps(summary.to_json()))
    else:
        print_summary(Console(highlight=False), summary)
    return summary


def _exec_worker(
    master_host: str | None,
    master_port: int,
    service: str | None,
    tags: list[str] | None,
    urls: list[str] | None,
) -> None:
    """Replace this process by a Locust worker (importing Locust here would patch the CLI)."""
    from harness.load.targets import parse_url

    if service or tags or urls:
        raise BadInput("a --worker gets its targets from the master: drop SERVICE, --tag, --url")
    if not master_host:
        raise BadInput("--worker needs --master-host")
    parse_url(f"http://{master_host}:{master_port}/", "--master-host")
    sys.stdout.flush()
    os.execv(
        sys.executable,
        [
            sys.executable,
            "-m",
            "harness.load.worker",
            "--master-host",
            master_host,
            "--master-port",
            str(master_port),
        ],
    )
