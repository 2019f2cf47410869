"""TARGET of ``harness autoscale``: a Service manifest file, or a Service on a cluster.

A path that exists (or ``-``) is a manifest: its one ``serving.knative.dev/v1``
Service is linted as ``harness lint`` does (an error refuses it, exit 2; warnings are
kept for ``explain``). Anything else is ``[NAMESPACE/]NAME`` of a Service on the
cluster the kubeconfig names (the emulator when none is set); nothing is changed there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.autoscale.variants import ServiceKnobs
from harness.errors import BadInput
from harness.inputs import InputError, read_text
from harness.knative.cluster import ClusterConfig
from harness.knative.lint import Finding, lint_document
from harness.knative.manifest import Document, ManifestError, parse_manifests
from harness.knative.model import SERVING_API_VERSION, SERVING_GROUP
from harness.knative.names import require_dns_label, require_namespace


@dataclass(frozen=True)
class LoadedTarget:
    """The Service's knobs and the lint warnings about it (manifests only)."""

    knobs: ServiceKnobs
    warnings: tuple[Finding, ...] = ()


def load_target(
    target: str,
    *,
    namespace: str,
    cluster: ClusterConfig,
    kubeconfig: Path | None = None,
    context: str | None = None,
    state_dir: Path | None = None,
) -> LoadedTarget:
    """Read TARGET (see the module doc)."""
    if target == "-" or Path(target).is_file():
        return _from_manifest(target, cluster)
    if "/" in target:
        namespace, _, name = target.partition("/")
    else:
        name = target
    namespace = require_namespace(namespace)
    name = require_dns_label(name, "service")
    obj = _from_cluster(namespace, name, kubeconfig, context, state_dir)
    # The live object passed Knative's webhook: only lint's warnings are news.
    findings = lint_document(Document(obj=obj, line=0), cluster)
    warnings = tuple(f for f in findings if f.severity != "error")
    return LoadedTarget(ServiceKnobs.from_object(obj, f"service {namespace}/{name}"), warnings)


def _from_manifest(path: str, cluster: ClusterConfig) -> LoadedTarget:
    where = "<stdin>" if path == "-" else path
    try:
        documents = parse_manifests(read_text(path))
    except InputError as exc:
        raise BadInput(f"{where}: {exc.message}") from None
    except ManifestError as exc:
        raise BadInput(f"{where}: {exc}") from None
    services = [
        d
        for d in documents
        if isinstance(d.obj, dict)
        and d.obj.get("kind") == "Service"
        and str(d.obj.get("apiVersion", "")).startswith(f"{SERVING_GROUP}/")
    ]
    if len(services) != 1:
        raise BadInput(
            f"{where}: expected one Knative Service ({SERVING_API_VERSION}), found {len(services)}"
        )
    document = services[0]
    findings = lint_document(document, cluster)
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        first = errors[0]
        line = f" line {first.line}" if first.line else ""
        raise BadInput(f"{where}{line}: {first.field}: {first.message} (see harness lint)")
    meta = document.obj.get("metadata") or {}
    name = meta.get("name") if isinstance(meta, dict) else None
    label = f"{where} (service {name})" if name else where
    knobs = ServiceKnobs.from_object(document.obj, label)
    return LoadedTarget(knobs, tuple(f for f in findings if f.severity != "error"))


def _from_cluster(
    namespace: str,
    name: str,
    kubeconfig: Path | None,
    context: str | None,
    state_dir: Path | None,
) -> dict[str, Any]:
    from harness.target import connect

    backend = connect(kubeconfig, context, state_dir)
    try:
        get_object = getattr(backend, "get_service_object", None)
        if get_object is None:
            raise BadInput("this cluster backend cannot read a Service object")
        obj: dict[str, Any] = get_object(namespace, name)
    finally:
        backend.close()
    return obj
