"""Helpers for end-to-end tests of the canary and its neighbours (tests/teams): the real
CLI against the real emulator. One copy of each; test modules import them from here."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.knative.kube import KubeBackend
from harness.store import SqliteStore
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


# A candidate with injected errors is rolled back at its first step (10%) within seconds;
# the 20 s step interval leaves the judge time to see it before the next step.
ROLLBACK_PACE = [
    "--steps",
    "10,50,100",
    "--step-interval",
    "20s",
    "--look-interval",
    "1s",
    "--warmup",
    "1s",
    "--rate",
    "150",
    "--max-duration",
    "90s",
]

HARNESS = (sys.executable, "-m", "harness.cli")


def run_harness(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``harness ARGS`` as a real process, output captured, in `harness_env` by default."""
    return subprocess.run(
        [*HARNESS, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=harness_env() if env is None else env,
        check=False,
    )


def canary_command(emu: RunningEmulator, store: Path | str, *args: str) -> list[str]:
    """``harness canary ARGS`` on the emulator; ``store`` is a file or a store URL."""
    return [
        *HARNESS,
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
    emu: RunningEmulator, store: Path | str, report: Path, *args: str, timeout: float = 270
) -> subprocess.CompletedProcess[str]:
    """``harness canary ARGS`` to its end. The default timeout is 3x the longest
    ``--max-duration`` these tests give a run that goes to its end (90 s): start-up,
    Prometheus' first scrapes and the restore of traffic all slow down on a loaded machine."""
    return subprocess.run(
        [*canary_command(emu, store, *args), "--report-dir", str(report)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=harness_env(),
        check=False,
    )


def spawn_canary(emu: RunningEmulator, store: Path, *args: str) -> subprocess.Popen[str]:
    """`harness canary` in the background, for tests that act on it mid-run."""
    return subprocess.Popen(
        canary_command(emu, store, *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=harness_env(),
    )


def rollback(
    emu: RunningEmulator, store: Path, *extra: str, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    """``harness rollback hello`` on the emulator with that store."""
    return run_harness(
        "rollback",
        "hello",
        "--kubeconfig",
        str(emu.kubeconfig),
        "--store",
        str(store),
        *extra,
        timeout=timeout,
    )


def wait_for_look(
    store: Path,
    proc: subprocess.Popen[str],
    known: frozenset[str] = frozenset(),
    timeout: float = 60,
) -> str:
    """The id of the newest canary run of hello not in ``known`` once it has journaled a
    look; fails at once if ``proc`` (the canary) exits first."""
    found: list[str] = []

    def has_look() -> bool:
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"harness exited {proc.returncode} before a look: {err}")
        if not store.exists():
            return False
        with SqliteStore(store) as s:
            for run in s.list_runs(service="hello", kind="canary"):
                if run.id not in known and s.looks(run.id):
                    found.append(run.id)
                    return True
        return False

    wait_for(has_look, timeout, "the new run's first look in the journal")
    return found[0]


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


def patch_service(emu: RunningEmulator, body: dict[str, Any], name: str = "hello") -> None:
    """A JSON merge patch of the Service through the emulator's API."""
    with emu.api_client() as client:
        r = client.patch(
            f"{emu.api}/apis/serving.knative.dev/v1/namespaces/default/services/{name}",
            json=body,
            headers={"Content-Type": "application/merge-patch+json"},
        )
    r.raise_for_status()


def service_manifest(tmp_path: Path, env: dict[str, str], name: str = "hello-v5") -> Path:
    """``service.yaml``: hello with a new revision ``name`` and these env knobs."""
    lines = [
        "apiVersion: serving.knative.dev/v1",
        "kind: Service",
        "metadata:",
        "  name: hello",
        "  namespace: default",
        "spec:",
        "  template:",
        "    metadata:",
        f"      name: {name}",
        "    spec:",
        "      containers:",
        "        - image: ghcr.io/knative/helloworld-go:latest",
        "          env:",
        *[f'            - name: {k}\n              value: "{v}"' for k, v in env.items()],
    ]
    path = tmp_path / "service.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


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
        wait_for(lambda: _revision_ready(backend, name), 60, f"revision {name} ready")
        backend.wait_ready("default", "hello", timeout=60)
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
    patch_service(
        emu,
        {
            "spec": {
                "traffic": [
                    {"revisionName": "hello-a", "percent": 100, "tag": "a"},
                    {"revisionName": "hello-b", "percent": 0, "tag": "b"},
                ]
            }
        },
    )
    backend = KubeBackend(emu.kubeconfig)
    try:
        backend.wait_ready("default", "hello", timeout=60)
    finally:
        backend.close()
    return "a", "b"
