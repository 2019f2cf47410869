"""Options shared by commands, spelled as kubectl spells them."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


Namespace = Annotated[
    str, typer.Option("--namespace", "-n", help="Kubernetes namespace of the Service.")
]
Kubeconfig = Annotated[
    Path | None,
    typer.Option(
        "--kubeconfig",
        help="Path to a kubeconfig (default: $KUBECONFIG, ~/.kube/config, else the emulator).",
        envvar="KUBECONFIG",
    ),
]
Context = Annotated[str | None, typer.Option("--context", help="The kubeconfig context to use.")]
StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="Emulator state folder (default: $HARNESS_STATE_DIR, else the XDG state dir).",
    ),
]
Format = Annotated[
    OutputFormat,
    typer.Option("--format", "-o", help="Output format: text (rich) or one JSON document."),
]
