"""Objects on the emulator for the `harness events` tests: event consumers (the sample app
in receiver mode), Brokers, Triggers, and the CLI as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import httpx

from harness.local.eventing.server import metrics_address
from tests.conftest import RunningEmulator

SERVICES = "/apis/serving.knative.dev/v1/namespaces/default/services"


def kubectl_apply(emu: RunningEmulator, objects: list[dict[str, Any]]) -> None:
    """``kubectl apply`` of these objects (kubectl as a user runs it)."""
    document = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    done = subprocess.run(
        ["kubectl", "--kubeconfig", str(emu.kubeconfig), "apply", "--validate=false", "-f", "-"],
        input=document,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def consumer(
    name: str,
    revisions: dict[str, dict[str, str]],
    traffic: list[tuple[str, int]],
) -> dict[str, Any]:
    """A Service whose last revision (of ``revisions``: suffix -> env) runs in receiver
    mode; every revision in ``traffic`` is tagged with its suffix."""
    suffix, env = list(revisions.items())[-1]
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "template": {
                "metadata": {"name": f"{name}-{suffix}"},
                "spec": {
                    "containers": [
                        {
                            "image": "ghcr.io/example/knative-harness-sample-app:0.1.0",
                            "env": [
                                {"name": k, "value": v}
                                for k, v in {"EVENTS_RECEIVER": "true", **env}.items()
                            ],
                        }
                    ]
                },
            },
            "traffic": [
                {"revisionName": f"{name}-{s}", "percent": p, "tag": s} for s, p in traffic
            ],
        },
    }


def broker(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Broker",
        "metadata": {"name": name, "namespace": "default"},
    }


def trigger(
    name: str,
    broker_name: str,
    service: str,
    *,
    annotations: dict[str, str] | None = None,
    delivery: dict[str, Any] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "broker": broker_name,
        "subscriber": {
            "ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": service}
        },
    }
    if delivery:
        spec["delivery"] = delivery
    return {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Trigger",
        "metadata": {"name": name, "namespace": "default", "annotations": annotations or {}},
        "spec": spec,
    }


def wait_service_ready(emu: RunningEmulator, name: str, revision: str, timeout: float = 60) -> None:
    """Poll until the Service is Ready with ``revision`` as its latest ready revision."""
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    with emu.api_client() as api:
        while time.monotonic() < deadline:
            answer = api.get(f"{SERVICES}/{name}")
            if answer.status_code == 200:
                status = answer.json().get("status", {})
                ready = any(
                    c.get("type") == "Ready" and c.get("status") == "True"
                    for c in status.get("conditions", [])
                )
                if ready and status.get("latestReadyRevisionName") == revision:
                    return
            time.sleep(0.2)
    raise AssertionError(f"service {name} not Ready with {revision}: {status}")


def harness(
    emu: RunningEmulator, *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run ``harness ARGS`` against the emulator (its kubeconfig and state folder)."""
    env = dict(os.environ)
    env.pop("KUBECONFIG", None)
    env["COLUMNS"] = "200"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            *args,
            "--kubeconfig",
            str(emu.kubeconfig),
            "--state-dir",
            str(emu.state_dir),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def eventing_counter(emu: RunningEmulator, name: str, trigger_name: str) -> int:
    """An emulator-only counter (``harness_eventing_<name>_total``) of one Trigger."""
    address = metrics_address(emu.state_dir)
    assert address is not None
    text = httpx.get(f"http://{address}/metrics", timeout=10).text
    total = 0
    for line in text.splitlines():
        if line.startswith(f"harness_eventing_{name}_total{{") and (
            f'trigger_name="{trigger_name}"' in line
        ):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total
