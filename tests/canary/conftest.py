"""Helpers for canary end-to-end tests: the real CLI against the real emulator."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.knative.kube import KubeBackend
from tests.conftest import RunningEmulator

# Short steps and a fast pace keep each run to seconds; margins are the defaults unless a
# test says otherwise.
FAST = [
    "--steps",
    "50,100",
    "--step-interval",
    "2s",
    "--look-interval",
    "1s",
    "--warmup",
    "1s",
    "--rate",
    "150",
]


def canary_command(emu: RunningEmulator, store: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "harness.cli",
        "canary",
        *args,
        "--kubeconfig",
        str(emu.kubeconfig),
        "--state-dir",
        str(emu.state_dir),
        "--store",
        str(store),
    ]


def harness_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("KUBECONFIG", None)
    env["COLUMNS"] = "200"
    return env


def run_canary(
    emu: RunningEmulator, store: Path, report: Path, *args: str, timeout: float = 150
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*canary_command(emu, store, *args), "--report-dir", str(report)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=harness_env(),
        check=False,
    )


def service(emu: RunningEmulator, name: str = "hello") -> dict[str, Any]:
    r = emu.api_client().get(
        f"{emu.api}/apis/serving.knative.dev/v1/namespaces/default/services/{name}"
    )
    r.raise_for_status()
    data: dict[str, Any] = r.json()
    return data


def spec_traffic(emu: RunningEmulator) -> list[dict[str, Any]]:
    traffic: list[dict[str, Any]] = service(emu)["spec"]["traffic"]
    return traffic


def add_revision(emu: RunningEmulator, name: str, env: dict[str, str]) -> None:
    """Create revision `name` of hello with these env knobs, at 0% (traffic kept as is)."""
    current = service(emu)
    manifest = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "hello", "namespace": "default"},
        "spec": {
            "template": {
                "metadata": {"name": name},
                "spec": {
                    "containers": [
                        {
                            "image": "ghcr.io/knative/helloworld-go:latest",
                            "env": [{"name": k, "value": v} for k, v in env.items()],
                        }
                    ]
                },
            },
            "traffic": current["spec"]["traffic"],
        },
    }
    backend = KubeBackend(emu.kubeconfig)
    try:
        backend.apply(manifest)
        wait_for(lambda: _revision_ready(backend, name), 30, f"revision {name} ready")
        backend.wait_ready("default", "hello", timeout=30)
    finally:
        backend.close()


def _revision_ready(backend: KubeBackend, name: str) -> bool:
    return any(r.name == name and r.ready for r in backend.list_revisions("default", "hello"))


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def percent_of(traffic: list[dict[str, Any]], revision: str) -> int:
    return sum(int(t.get("percent") or 0) for t in traffic if t.get("revisionName") == revision)


# Revisions of one process each compete for two cores with the router, Prometheus and
# Locust, which can make one of two identical 5 ms revisions a real 1-3% slower for a
# while; the judge is right to call that a regression. Tests that expect a promotion
# compare two identical revisions slow enough (30 ms) that scheduling noise is negligible.
IDENTICAL_ENV = {"SIM_LATENCY_MS": "30", "SIM_LATENCY_SIGMA": "0.3"}


def identical_pair(emu: RunningEmulator) -> tuple[str, str]:
    """Revisions hello-a (100%, tag a) and hello-b (0%, tag b) with the same env."""
    add_revision(emu, "hello-a", {"TARGET": "a", **IDENTICAL_ENV})
    add_revision(emu, "hello-b", {"TARGET": "b", **IDENTICAL_ENV})
    r = emu.api_client().patch(
        f"{emu.api}/apis/serving.knative.dev/v1/namespaces/default/services/hello",
        json={
            "spec": {
                "traffic": [
                    {"revisionName": "hello-a", "percent": 100, "tag": "a"},
                    {"revisionName": "hello-b", "percent": 0, "tag": "b"},
                ]
            }
        },
        headers={"Content-Type": "application/merge-patch+json"},
    )
    r.raise_for_status()
    backend = KubeBackend(emu.kubeconfig)
    try:
        backend.wait_ready("default", "hello", timeout=30)
    finally:
        backend.close()
    return "a", "b"
