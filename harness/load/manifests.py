"""Kubernetes manifests for load from inside a cluster: Locust workers under a harness master.

Workers are a Job of N pods running ``harness load --worker --master-host H``; they need no
targets, the master sends its plan when they connect. The master is either a Job in the
cluster (with a Service so workers find it) or a harness outside it (``--master-host``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from harness.errors import BadInput
from harness.knative.names import require_dns_label

MASTER_NAME = "harness-load-master"
WORKER_NAME = "harness-load-worker"
_LABEL = "app.kubernetes.io/name"


def render_manifests(
    *,
    workers: int,
    namespace: str,
    image: str,
    master_host: str | None,
    master_port: int,
    load_args: Sequence[str],
) -> str:
    """Multi-document YAML: the worker Job and, without ``master_host``, the master
    Job and Service. ``load_args`` are the master's `harness load` targets and pacing."""
    require_dns_label(namespace, "namespace")
    if not 1 <= workers <= 1000:
        raise BadInput(f"--workers {workers!r} must be between 1 and 1000")
    if not 0 < master_port < 65536:
        raise BadInput(f"--master-port {master_port!r} must be between 1 and 65535")
    if not image or any(ch.isspace() for ch in image):
        raise BadInput(f"--image {image!r} is not an image reference")
    documents: list[dict[str, Any]] = []
    host = master_host or f"{MASTER_NAME}.{namespace}.svc.cluster.local"
    if master_host is None:
        documents += [
            _master_service(namespace, master_port),
            _master_job(namespace, image, master_port, workers, load_args),
        ]
    documents.append(_worker_job(namespace, image, host, master_port, workers))
    return yaml.safe_dump_all(documents, sort_keys=False)


def _master_service(namespace: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": MASTER_NAME, "namespace": namespace},
        "spec": {
            "selector": {_LABEL: MASTER_NAME},
            "ports": [{"name": "locust", "port": port, "targetPort": port}],
        },
    }


def _master_job(
    namespace: str, image: str, port: int, workers: int, load_args: Sequence[str]
) -> dict[str, Any]:
    command = [
        "harness",
        "load",
        *load_args,
        "--master",
        "--expect-workers",
        str(workers),
        "--master-bind-host",
        "0.0.0.0",
        "--master-port",
        str(port),
        "--format",
        "json",
    ]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": MASTER_NAME, "namespace": namespace},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {_LABEL: MASTER_NAME}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "master",
                            "image": image,
                            "command": command,
                            "ports": [{"containerPort": port, "name": "locust"}],
                        }
                    ],
                },
            },
        },
    }


def _worker_job(
    namespace: str, image: str, master_host: str, port: int, workers: int
) -> dict[str, Any]:
    # A Job, not a Deployment: a worker exits when its master says the run is over, and
    # must not be restarted into a master that is gone. Until the master listens, a worker
    # exits 2 and the Job retries it.
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": WORKER_NAME, "namespace": namespace},
        "spec": {
            "parallelism": workers,
            "completions": workers,
            "backoffLimit": 6 * workers,
            "template": {
                "metadata": {"labels": {_LABEL: WORKER_NAME}},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "containers": [
                        {
                            "name": "worker",
                            "image": image,
                            "command": [
                                "harness",
                                "load",
                                "--worker",
                                "--master-host",
                                master_host,
                                "--master-port",
                                str(port),
                            ],
                            "resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "1"}},
                        }
                    ],
                },
            },
        },
    }
