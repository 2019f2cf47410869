"""`harness status SVC`: revisions, traffic with tag URLs, and the last harness run."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from harness.commands.options import (
    Context,
    Format,
    Kubeconfig,
    Namespace,
    OutputFormat,
    StateDir,
)

if TYPE_CHECKING:
    from harness.knative.model import RevisionState, ServiceState
    from harness.store import RunRecord

StoreOption = Annotated[
    Path | None,
    typer.Option("--store", help="Run journal (default: history.sqlite in the state folder)."),
]


def _last_run(store_path: Path | None, namespace: str, service: str) -> RunRecord | None:
    """The newest run on the Service, or None when no journal exists (none is created).

    An existing file is checked like every command checks it (`harness.store.open_store`):
    a damaged or foreign store is refused, never read past or written.
    """
    from harness.store import open_store
    from harness.store import store_path as resolve

    path = resolve(store_path)
    if path is not None and not (path.exists() or path.is_symlink()):
        return None
    store = open_store(store_path)
    try:
        return store.last_run(namespace, service)
    finally:
        store.close()


def _time(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_document(
    service: ServiceState, revisions: list[RevisionState], run: RunRecord | None
) -> dict[str, Any]:
    """What `harness status --format json` prints."""
    return {
        "service": {
            "namespace": service.namespace,
            "name": service.name,
            "ready": service.ready,
            "reason": service.ready_reason,
            "message": service.ready_message,
            "url": service.url,
            "generation": service.generation,
            "observedGeneration": service.observed_generation,
            "latestCreatedRevision": service.latest_created_revision,
            "latestReadyRevision": service.latest_ready_revision,
        },
        "revisions": [
            {
                "name": r.name,
                "ready": r.ready,
                "reason": r.reason,
                "message": r.message,
                "created": r.created.strftime("%Y-%m-%dT%H:%M:%SZ") if r.created else None,
            }
            for r in revisions
        ],
        "traffic": [
            {
                "percent": t.effective_percent,
                "revision": t.revision_name,
                "latestRevision": t.follows_latest,
                "tag": t.tag,
                "url": t.url,
            }
            for t in service.status_traffic
        ],
        "lastRun": None
        if run is None
        else {
            "id": run.id,
            "kind": run.kind,
            "revisions": list(run.revisions),
            "status": run.status,
            "started": _time(run.started),
            "finished": _time(run.finished),
            "summary": run.summary,
        },
        "lease": _lease(service),
    }


def _lease(service: ServiceState) -> dict[str, Any] | None:
    """The canary run lease on the Service (`harness.canary.lease`), if any."""
    import time

    from harness.canary.lease import LEASE_ANNOTATION, LeaseRecord

    record = LeaseRecord.parse(service.annotations.get(LEASE_ANNOTATION))
    if record is None:
        return None
    return {
        "holder": record.holder,
        "expires": _time(record.expires),
        "expired": record.expired(time.time()),
        # Its holder ran on this host and is gone (a crash): the next run takes it over.
        "holderGone": record.holder_gone(),
    }


def _print_text(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    # soft_wrap: on a pipe rich assumes 80 columns and would break the long lines. The
    # cluster's text (reasons, messages) is printed as written: no markup, no emoji codes.
    console = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
    svc = doc["service"]
    state = "Ready" if svc["ready"] else f"not ready ({svc['reason'] or 'unknown'})"
    console.print(f"Service {svc['namespace']}/{svc['name']}: {state}  {svc['url'] or ''}")
    if not svc["ready"] and svc["message"]:
        console.print(f"  {svc['message']}")
    revisions = Table(title="Revisions", title_justify="left")
    for column in ("name", "ready", "reason", "created"):
        revisions.add_column(column)
    for rev in doc["revisions"]:
        revisions.add_row(
            rev["name"], "yes" if rev["ready"] else "no", rev["reason"] or "", rev["created"] or ""
        )
    console.print(revisions)
    traffic = Table(title="Traffic", title_justify="left")
    for column in ("percent", "revision", "tag", "url"):
        traffic.add_column(column)
    for entry in doc["traffic"]:
        revision = entry["revision"] or ""
        if entry["latestRevision"]:
            revision = f"{revision} (latest)"
        traffic.add_row(f"{entry['percent']}%", revision, entry["tag"] or "", entry["url"] or "")
    console.print(traffic)
    lease = doc["lease"]
    if lease is not None:
        state = (
            "expired"
            if lease["expired"]
            else "stale (its process is gone on this host)"
            if lease.get("holderGone")
            else "held"
        )
        console.print(
            f"Run lease: {state} by {lease['holder']} (expires {lease['expires'] or '?'})",
            markup=False,
        )
    run = doc["lastRun"]
    if run is None:
        console.print("Last run: no runs recorded")
    else:
        arms = " -> ".join(run["revisions"])
        console.print(
            f"Last run: {run['id']} {run['kind']} {arms} {run['status']} "
            f"(started {run['started']}, finished {run['finished'] or '-'})"
        )


def register(app: typer.Typer) -> None:
    """Add `harness status`."""

    @app.command("status")
    def status(
        service: Annotated[str, typer.Argument(help="The Knative Service.")],
        namespace: Namespace = "default",
        kubeconfig: Kubeconfig = None,
        context: Context = None,
        state_dir: StateDir = None,
        store: StoreOption = None,
        output: Format = OutputFormat.text,
    ) -> None:
        """Revisions (ready or not), traffic with percents and tag URLs, the last run."""
        from harness.knative.names import require_dns_label
        from harness.target import connect

        require_dns_label(namespace, "namespace")
        require_dns_label(service, "service")
        run = _last_run(store, namespace, service)  # the store is checked before the cluster
        backend = connect(kubeconfig, context, state_dir)
        try:
            state = backend.get_service(namespace, service)
            revisions = backend.list_revisions(namespace, service)
        finally:
            backend.close()
        doc = status_document(state, revisions, run)
        if output is OutputFormat.json:
            typer.echo(json.dumps(doc))
        else:
            _print_text(doc)
