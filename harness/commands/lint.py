"""``harness lint FILE...``: Knative manifest checks before apply.

Exit codes: 0 no errors, 1 errors found, 2 a file could not be read or parsed.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from harness.commands.options import Format, OutputFormat


def parse_features(assignments: list[str]) -> Any:
    """``--feature KEY=VALUE`` flags as ``Features``; a bad one is ``BadInput`` (exit 2)."""
    from harness.errors import BadInput
    from harness.knative.features import Features

    try:
        return Features.parse(assignments)
    except ValueError as exc:
        raise BadInput(f"--feature: {exc}") from exc


def parse_settings(config: Any, assignments: list[str]) -> Any:
    """``--cluster-config KEY=VALUE`` flags applied to ``config``; a bad one is ``BadInput``."""
    from harness.errors import BadInput
    from harness.knative.cluster_settings import apply_settings

    try:
        return apply_settings(config, assignments)
    except ValueError as exc:
        raise BadInput(f"--cluster-config: {exc}") from exc


def read_previous(path: str, config: Any) -> Any:
    """``--previous FILE``'s objects (``harness.knative.previous``); a file that cannot be
    read or parsed is ``BadInput`` (exit 2)."""
    from harness.errors import BadInput
    from harness.inputs import InputError, read_text
    from harness.knative.manifest import ManifestError
    from harness.knative.previous import previous_objects

    try:
        return previous_objects(read_text(path), config)
    except InputError as exc:
        raise BadInput(f"--previous: {exc.message}") from exc
    except ManifestError as exc:
        raise BadInput(f"--previous {path}: {exc}") from exc


def register(app: typer.Typer) -> None:
    """Add the ``lint`` command to the CLI."""
    app.command("lint")(lint)


def lint(
    files: Annotated[
        list[str],
        typer.Argument(help="Manifests to check (YAML or JSON, multi-document); - reads stdin."),
    ],
    output: Format = OutputFormat.text,
    allow_zero_initial_scale: Annotated[
        bool,
        typer.Option(
            "--allow-zero-initial-scale",
            help="Model a cluster with config-autoscaler allow-zero-initial-scale: true.",
        ),
    ] = False,
    autoscaler_class: Annotated[
        str,
        typer.Option(
            "--autoscaler-class",
            help="The cluster's default pod-autoscaler-class (config-autoscaler).",
        ),
    ] = "kpa.autoscaling.knative.dev",
    max_scale_limit: Annotated[
        int,
        typer.Option(
            "--max-scale-limit", min=0, help="config-autoscaler max-scale-limit (0: none)."
        ),
    ] = 0,
    container_concurrency_max_limit: Annotated[
        int,
        typer.Option(
            "--container-concurrency-max-limit",
            min=1,
            help="config-defaults container-concurrency-max-limit.",
        ),
    ] = 1000,
    disallow_container_concurrency_zero: Annotated[
        bool,
        typer.Option(
            "--disallow-container-concurrency-zero",
            help="Model config-defaults allow-container-concurrency-zero: false.",
        ),
    ] = False,
    max_revision_timeout_seconds: Annotated[
        int,
        typer.Option(
            "--max-revision-timeout-seconds",
            min=1,
            help="config-defaults max-revision-timeout-seconds.",
        ),
    ] = 600,
    security_warnings: Annotated[
        bool,
        typer.Option(
            "--security-warnings/--no-security-warnings",
            help="Report Knative's own warning for securityContext fields left at "
            "Kubernetes' insecure defaults (a warning, as kubectl shows it; never fails lint).",
        ),
    ] = True,
    feature: Annotated[
        list[str] | None,
        typer.Option(
            "--feature",
            metavar="KEY=VALUE",
            help="A config-features flag, e.g. kubernetes.podspec-affinity=enabled "
            "(repeatable; defaults are Knative's).",
        ),
    ] = None,
    setting: Annotated[
        list[str] | None,
        typer.Option(
            "--cluster-config",
            metavar="KEY=VALUE",
            help="A config-defaults or config-autoscaler key, e.g. revision-timeout-seconds=60 "
            "or revision-cpu-request=100m (repeatable; applied after the flags above).",
        ),
    ] = None,
    previous: Annotated[
        str | None,
        typer.Option(
            "--previous",
            metavar="FILE",
            help="The objects as they are in the cluster (kubectl get -o yaml): a manifest "
            "naming one of them is checked as an update of it (immutable fields, revision "
            "name changes, creator/lastModifier).",
        ),
    ] = None,
) -> None:
    """Check Knative Services, Routes, Configurations, Revisions, Brokers and Triggers as
    Knative's webhooks would, plus warnings for settings Knative accepts but ignores.
    Exit 0 clean, 1 errors, 2 unreadable."""
    from harness.knative.cluster import ClusterConfig
    from harness.knative.lint import LintSummary, lint_path
    from harness.knative.lint_output import print_human

    features = parse_features(feature or [])
    config = ClusterConfig(
        allow_zero_initial_scale=allow_zero_initial_scale,
        pod_autoscaler_class=autoscaler_class,
        max_scale_limit=max_scale_limit,
        allow_container_concurrency_zero=not disallow_container_concurrency_zero,
        container_concurrency_max_limit=container_concurrency_max_limit,
        max_revision_timeout_seconds=max_revision_timeout_seconds,
        features=features,
    )
    config = parse_settings(config, setting or [])
    stored = read_previous(previous, config) if previous is not None else None
    summary = LintSummary(
        tuple(
            lint_path(f, config, security_warnings=security_warnings, previous=stored)
            for f in files
        )
    )
    if output is OutputFormat.json:
        typer.echo(json.dumps(summary.to_dict(), indent=2))
    else:
        print_human(summary)
    raise typer.Exit(summary.exit_code)
