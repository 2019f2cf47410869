"""`harness canary --apply FILE`: the manifest's Service is linted and read (before the
lease), then applied with the current traffic pinned so its new revision starts at 0% and
becomes the candidate."""

from __future__ import annotations

from typing import Any

from harness.canary.cluster import Cluster, Say
from harness.config import CanarySpec
from harness.errors import BadInput


def manifest_service(spec: CanarySpec) -> dict[str, Any]:
    """The Service of the ``--apply`` manifest, linted (BadInput on a lint error); reads only."""
    from harness.knative.lint import lint_path
    from harness.knative.manifest import ManifestError, parse_manifests

    assert spec.apply is not None
    report = lint_path(str(spec.apply))
    if report.error is not None:
        where = f":{report.error.line}:{report.error.column}" if report.error.line else ""
        raise BadInput(f"{spec.apply}{where}: {report.error.message}")
    errors = [f for f in report.findings if f.severity == "error"]
    if errors:
        first = errors[0]
        line = f":{first.line}" if first.line else ""
        more = (
            f" (and {len(errors) - 1} more; run `harness lint {spec.apply}`)"
            if len(errors) > 1
            else ""
        )
        raise BadInput(f"{spec.apply}{line}: {first.field}: {first.message}{more}")
    from harness.inputs import InputError, read_text

    try:
        documents = parse_manifests(read_text(spec.apply))
    except (InputError, ManifestError) as exc:
        raise BadInput(f"{spec.apply}: {exc}") from None
    services = [
        d.obj
        for d in documents
        if isinstance(d.obj, dict)
        and d.obj.get("kind") == "Service"
        and (d.obj.get("metadata") or {}).get("name") == spec.service
        and (d.obj.get("metadata") or {}).get("namespace", spec.namespace) == spec.namespace
    ]
    if len(services) != 1:
        raise BadInput(
            f"{spec.apply} must hold exactly one Service {spec.namespace}/{spec.service}, "
            f"found {len(services)}"
        )
    service: dict[str, Any] = services[0]
    return service


def apply_candidate(spec: CanarySpec, cluster: Cluster, say: Say) -> CanarySpec:
    """`--apply FILE`: lint the manifest, then create its revision at 0% of traffic.

    The manifest's ``spec.traffic`` is replaced by the Service's current block with
    latest-following entries pinned, so Knative's default (all traffic to the latest
    revision) cannot happen; the new revision becomes the candidate.
    """
    from dataclasses import replace

    from harness.canary.checks import wait_for_revision

    service = manifest_service(spec)
    backend = cluster.backend
    state = backend.get_service(spec.namespace, spec.service)
    before = state.latest_created_revision
    pinned = []
    for target in state.spec_traffic:
        if target.follows_latest:
            if not state.latest_ready_revision:
                raise BadInput(f"service {spec.namespace}/{spec.service} has no ready revision")
            target = replace(
                target, revision_name=state.latest_ready_revision, latest_revision=False
            )
        pinned.append(replace(target, url=None).to_dict())
    manifest = dict(service)
    manifest["metadata"] = {**(manifest.get("metadata") or {}), "namespace": spec.namespace}
    manifest["spec"] = {**(manifest.get("spec") or {}), "traffic": pinned}
    backend.apply(manifest)
    after = wait_for_revision(backend, spec.namespace, spec.service, before, timeout=120.0)
    created = after.latest_created_revision
    if not created or created == before:
        raise BadInput(f"{spec.apply} does not change spec.template, so it creates no new revision")
    say(f"applied {spec.apply}: new revision {created} at 0% of traffic")
    return spec.model_copy(update={"candidate": created})
