"""Kubernetes manifests for load from inside a cluster.

Plain output: workers are a Job of N pods running ``harness load --worker --master-host H``;
they need no targets, the master sends its plan when they connect. The master is either a
Job in the cluster (with a Service so workers find it) or a harness outside it
(``--master-host``).

``--operator``: one ``LocustTest`` (``locust.io/v1``) for the official Locust Kubernetes
operator (github.com/locustio/k8s-operator, CRD of chart 0.1.6), which runs plain Locust
in its own master and worker Jobs. The harness's arms and pacing travel in the
locustfile content (`locustfile_source`); options map to the operator's fields (see
docs/load.md).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import yaml

from harness.errors import BadInput
from harness.knative.names import require_dns_label

if TYPE_CHECKING:
    from harness.load.plan import Pacing
    from harness.load.targets import Arm

MASTER_NAME = "harness-load-master"
LOCUST_TEST_NAME = "harness-load"
# Where the operator mounts the locustfile ConfigMap (locust_operator/objects.py,
# LOCUST_BASE_PATH, at the commit above).
OPERATOR_LOCUSTFILE = "/home/locust/locustfile.py"
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


def operator_image() -> str:
    """The Locust image matching the Locust the harness runs (``locustio/locust:X.Y.Z``)."""
    from importlib.metadata import version

    return f"locustio/locust:{version('locust')}"


def render_locust_test(
    *,
    arms: Sequence[Arm],
    pacing: Pacing,
    duration_s: float,
    workers: int,
    namespace: str,
    image: str,
    name: str = LOCUST_TEST_NAME,
) -> str:
    """One ``LocustTest`` document: ``workers`` worker pods, the arms' user classes in
    ``spec.locustfile.content``, users, spawn rate and run time in ``spec.args``."""
    require_dns_label(namespace, "namespace")
    require_dns_label(name, "name")
    if not 1 <= workers <= 1000:
        raise BadInput(f"--workers {workers!r} must be between 1 and 1000")
    if not image or any(ch.isspace() for ch in image):
        raise BadInput(f"--image {image!r} is not an image reference")
    if not arms:
        raise BadInput("give the targets (--url) for the LocustTest")
    users = pacing.users * len(arms)
    args = [
        "--locustfile",
        OPERATOR_LOCUSTFILE,
        "--headless",
        "--users",
        str(users),
        "--spawn-rate",
        str(min(users, 100)),
        "--run-time",
        f"{math.ceil(duration_s)}s",
        "--expect-workers",
        str(workers),
        "--only-summary",
    ]
    document = {
        "apiVersion": "locust.io/v1",
        "kind": "LocustTest",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "image": image,
            "workers": workers,
            "args": " ".join(args),
            "labels": {"app.kubernetes.io/part-of": "knative-harness"},
            "worker": {
                "resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "1"}},
            },
            "locustfile": {"content": locustfile_source(arms, pacing)},
        },
    }
    return yaml.dump(document, Dumper=_BlockDumper, sort_keys=False, width=1000)


class _BlockDumper(yaml.SafeDumper):
    """Safe YAML with multi-line strings (the locustfile) as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def locustfile_source(arms: Sequence[Arm], pacing: Pacing) -> str:
    """A plain-Locust locustfile (no harness import) with one user class per arm.

    Each class has ``fixed_count`` = the users per arm, so every arm gets the same users.
    Closed model: ``constant(wait)`` between requests. Open model: each user is capped at
    rate / users requests per second (``constant_throughput``), Locust's nearest to the
    harness's open model; latency then counts from when a request is sent, not when it
    was due. Requests are named after the arm, as the harness names them.
    """
    data = [
        {
            "name": arm.name,
            "base_url": arm.base_url,
            "path": arm.path,
            "host_header": arm.host_header,
        }
        for arm in arms
    ]
    settings = {"users": pacing.users, "rate": pacing.rate, "wait_s": pacing.wait_s}
    return _LOCUSTFILE.format(
        arms=repr(json.dumps(data, sort_keys=True)),
        pacing=repr(json.dumps(settings, sort_keys=True)),
    )


_LOCUSTFILE = '''"""Generated by `harness load manifests --operator` (knative-harness).

One user class per arm; every arm gets the same users. Edit ARMS or PACING to change them.
"""

import json

from locust import FastHttpUser, constant, constant_throughput, task

ARMS = json.loads({arms})
PACING = json.loads({pacing})


def _user_class(arm):
    if PACING["rate"]:
        wait = constant_throughput(PACING["rate"] / PACING["users"])
    else:
        wait = constant(PACING["wait_s"])
    path = arm["path"]
    request_name = arm["name"]

    class ArmUser(FastHttpUser):
        host = arm["base_url"]
        fixed_count = PACING["users"]
        wait_time = wait
        default_headers = {{"Host": arm["host_header"]}} if arm["host_header"] else None

        @task
        def get(self):
            self.client.get(path, name=request_name)

    ArmUser.__name__ = ArmUser.__qualname__ = "Arm_" + arm["name"].replace("-", "_")
    return ArmUser


for _arm in ARMS:
    _cls = _user_class(_arm)
    globals()[_cls.__name__] = _cls
del _arm, _cls  # Locust collects every User class bound in this module: once per arm
'''
