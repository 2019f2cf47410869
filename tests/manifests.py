"""Knative Service manifests for tests, and applying one to the emulator until Ready."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.knative.kube import KubeBackend

IMAGE = "example.com/hello:latest"


def service_manifest(
    name: str,
    revision: str,
    env: Mapping[str, str] | None = None,
    *,
    annotations: Mapping[str, str] | None = None,
    container_concurrency: int | None = None,
) -> dict[str, Any]:
    """Service ``name`` whose template makes revision ``{name}-{revision}`` of the sample app."""
    container: dict[str, Any] = {"image": IMAGE}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    metadata: dict[str, Any] = {"name": f"{name}-{revision}"}
    if annotations:
        metadata["annotations"] = dict(annotations)
    spec: dict[str, Any] = {"containers": [container]}
    if container_concurrency is not None:
        spec["containerConcurrency"] = container_concurrency
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"template": {"metadata": metadata, "spec": spec}},
    }


def apply_ready(kubeconfig: Path, manifest: dict[str, Any], timeout: float = 60) -> None:
    """Apply ``manifest`` with the KubeBackend and wait until the Service is Ready."""
    backend = KubeBackend(kubeconfig)
    try:
        backend.apply(manifest)
        backend.wait_ready("default", manifest["metadata"]["name"], timeout=timeout)
    finally:
        backend.close()
