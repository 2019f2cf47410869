"""`harness local up|status|down|apply`: the embedded Knative emulator."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from harness.commands.options import Format, OutputFormat, StateDir
from harness.errors import BadInput, Unavailable
from harness.knative.model import SERVING_API_VERSION, SERVING_GROUP

DEFAULT_INGRESS_PORT = 8080

local_app = typer.Typer(
    help="Run the embedded Knative Serving emulator (API, ingress, revisions, Prometheus).",
    no_args_is_help=True,
)


class MetricsSchema(StrEnum):
    legacy = "legacy"
    otel = "otel"


def _status_document(info: Any) -> dict[str, Any]:
    return {
        "api": info.api,
        "ingress": info.ingress,
        "prometheus": info.prometheus,
        "kubeconfig": info.kubeconfig,
        "pid": info.pid,
        "max_pods": info.max_pods,
        "scale_to_zero": info.scale_to_zero,
    }


def _print_info(info: Any, output: OutputFormat, headline: str) -> None:
    if output is OutputFormat.json:
        typer.echo(json.dumps(_status_document(info)))
        return
    from rich.console import Console

    console = Console(highlight=False)
    console.print(headline)
    console.print(f"  API         {info.api}")
    console.print(f"  ingress     {info.ingress}  (Host: {{route}}.{{namespace}}.{info.domain})")
    console.print(f"  Prometheus  {info.prometheus or 'not installed: client-side metrics only'}")
    console.print(f"  kubeconfig  {info.kubeconfig}")
    console.print(f"  pid         {info.pid}")
    fixed = info.max_pods == 1 and not info.scale_to_zero
    scaling = "one process per revision" if fixed else "autoscaled"
    console.print(f"  max pods    {info.max_pods} per revision ({scaling})")
    if info.scale_to_zero:
        console.print("  scale to 0  on (idle revisions without min-scale stop their last pod)")


@local_app.command("up")
def up(
    demo: Annotated[
        bool,
        typer.Option("--demo", help="Create Service hello with hello-v1 (100%) and hello-v2 (0%)."),
    ] = False,
    port: Annotated[
        int, typer.Option("--port", help="Ingress port on 127.0.0.1 (0 = any free port).")
    ] = DEFAULT_INGRESS_PORT,
    metrics_schema: Annotated[
        MetricsSchema,
        typer.Option("--metrics-schema", help="legacy (Knative <= 1.18) or otel (>= 1.19)."),
    ] = MetricsSchema.legacy,
    domain: Annotated[str, typer.Option("--domain", help="Domain of route hosts.")] = "example.com",
    max_pods: Annotated[
        int,
        typer.Option(
            "--max-pods",
            help="Most pods (processes) per revision; above 1 the autoscaler (KPA model) "
            "scales revisions within their min-scale and max-scale. 1 = one process each.",
        ),
    ] = 1,
    scale_to_zero: Annotated[
        bool,
        typer.Option(
            "--scale-to-zero",
            help="Let idle revisions without min-scale go to zero pods; a request wakes "
            "them (held until a pod is ready, like Knative's activator).",
        ),
    ] = False,
    scale_to_zero_grace_period: Annotated[
        float,
        typer.Option(
            "--scale-to-zero-grace-period",
            help="Seconds a revision stays idle before its last pod stops (Knative: 30).",
        ),
    ] = 30.0,
    feature: Annotated[
        list[str] | None,
        typer.Option(
            "--feature",
            metavar="KEY=VALUE",
            help="A config-features flag the admission uses, e.g. "
            "kubernetes.podspec-nodeselector=enabled (repeatable; as `harness lint`).",
        ),
    ] = None,
    setting: Annotated[
        list[str] | None,
        typer.Option(
            "--cluster-config",
            metavar="KEY=VALUE",
            help="A config-defaults or config-autoscaler key the admission uses, e.g. "
            "revision-timeout-seconds=60 (repeatable; as `harness lint --cluster-config`).",
        ),
    ] = None,
    state_dir: StateDir = None,
    output: Format = OutputFormat.text,
) -> None:
    """Start the emulator in the background; returns once it answers."""
    from harness.local.launcher import Emulator
    from harness.statedir import resolve_state_dir

    info = Emulator.start(
        resolve_state_dir(state_dir),
        port=port,
        demo=demo,
        metrics_schema=metrics_schema.value,
        domain=domain,
        max_pods=max_pods,
        scale_to_zero=scale_to_zero,
        scale_to_zero_grace_s=scale_to_zero_grace_period,
        features=tuple(feature or ()),
        settings=tuple(setting or ()),
    )
    _print_info(info, output, "emulator running")


@local_app.command("status")
def status(state_dir: StateDir = None, output: Format = OutputFormat.text) -> None:
    """Where the running emulator answers (exit 2 when none is running)."""
    from harness.local.launcher import Emulator
    from harness.statedir import resolve_state_dir

    folder = resolve_state_dir(state_dir)
    info = Emulator.status(folder)
    if info is None:
        raise Unavailable(f"no emulator running for {folder}; start one with `harness local up`")
    _print_info(info, output, f"emulator running for {folder}")


@local_app.command("down")
def down(state_dir: StateDir = None) -> None:
    """Stop the emulator and every process it started (exit 0 when none was running)."""
    from harness.local.launcher import Emulator
    from harness.statedir import resolve_state_dir

    folder = resolve_state_dir(state_dir)
    if Emulator.stop(folder):
        typer.echo(f"emulator stopped ({folder})")
    else:
        typer.echo(f"no emulator running for {folder}")


@local_app.command("apply")
def apply(
    filename: Annotated[
        Path,
        typer.Option("--filename", "-f", help="Knative manifest (YAML or JSON, multi-document)."),
    ],
    state_dir: StateDir = None,
    output: Format = OutputFormat.text,
) -> None:
    """Create or update the Knative Services a manifest describes, through the emulator's API.

    Every document is validated first, so a manifest Knative would reject changes nothing.
    An update is `kubectl apply`'s three-way merge (last-applied-configuration annotation):
    what the manifest never set, such as `spec.traffic` moved by a canary, is kept.
    """
    from harness.local.api_client import api_client
    from harness.local.client_apply import apply_service
    from harness.local.launcher import Emulator
    from harness.statedir import resolve_state_dir

    folder = resolve_state_dir(state_dir)
    documents = _read_manifest(filename)
    info = Emulator.status(folder)
    if info is None:
        raise Unavailable(f"no emulator running for {folder}; start one with `harness local up`")
    applied = []
    with api_client(info) as client:
        for document in documents:
            stored = apply_service(client, document, "default")
            meta = stored["metadata"]
            applied.append(
                {
                    "kind": stored["kind"],
                    "namespace": meta["namespace"],
                    "name": meta["name"],
                    "generation": meta.get("generation"),
                }
            )
    if output is OutputFormat.json:
        typer.echo(json.dumps({"applied": applied}))
    else:
        for item in applied:
            typer.echo(
                f"service.{SERVING_GROUP}/{item['name']} applied in {item['namespace']} "
                f"(generation {item['generation']})"
            )


def _read_manifest(path: Path) -> list[dict[str, Any]]:
    """The manifest's Services, each checked as Knative's webhook would check it."""
    from harness.inputs import InputError, read_text
    from harness.knative.field_error import admission_denial
    from harness.knative.manifest import ManifestError, parse_manifests
    from harness.knative.validation import validate_object

    try:
        documents = parse_manifests(read_text(path))
    except InputError as exc:
        raise BadInput(f"{path}: {exc}") from None
    except ManifestError as exc:
        raise BadInput(f"{path}: {exc}") from exc
    if not documents:
        raise BadInput(f"{path} has no documents")
    for document in documents:
        obj = document.obj
        if not isinstance(obj, dict) or obj.get("kind") != "Service":
            raise BadInput(
                f"{path}:{document.line}: not a {SERVING_API_VERSION} Service; "
                "`harness local apply` creates Services"
            )
        try:
            errors = [e for e in validate_object(obj) if e.level == "error"]
        except ValueError as exc:
            raise BadInput(f"{path}:{document.line}: {exc}") from exc
        if errors:
            line = document.line_of(errors[0].paths[0]) if errors[0].paths else document.line
            denial = admission_denial(errors).replace("\n", "; ")
            raise BadInput(f"{path}:{line}: {denial}")
    return [document.obj for document in documents]


def register(app: typer.Typer) -> None:
    """Add the `local` command group."""
    app.add_typer(local_app, name="local")
