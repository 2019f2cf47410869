"""kubectl writes a standalone Route to the emulator: apply, get, patch, delete."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import RunningEmulator
from tests.kube.test_kubectl import kubectl, rows, wait_until

__all__ = ["kubectl"]  # the fixture, shared with the Service suite

ROUTE = """\
apiVersion: serving.knative.dev/v1
kind: Route
metadata:
  name: kubectl-route
spec:
  traffic:
    - revisionName: hello-v1
      percent: {v1}
    - revisionName: hello-v2
      percent: {v2}
      tag: candidate
"""

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def served_by(emulator: RunningEmulator, host: str) -> str:
    return httpx.get(emulator.ingress, headers={"Host": host}, timeout=60).headers.get(
        "K-Revision", ""
    )


def test_apply_get_patch_delete_a_route(
    kubectl: Kubectl, emulator: RunningEmulator, tmp_path: Path
) -> None:
    manifest = tmp_path / "route.yaml"
    manifest.write_text(ROUTE.format(v1=100, v2=0))
    created = kubectl("apply", "-f", str(manifest))
    assert created.returncode == 0, created.stderr
    assert "route.serving.knative.dev/kubectl-route created" in created.stdout

    def listed_ready() -> bool:
        table = rows(kubectl("get", "routes").stdout)
        return ["kubectl-route", "http://kubectl-route.default.example.com", "True"] in table

    wait_until(listed_ready)
    assert rows(kubectl("get", "rt").stdout)[0] == ["NAME", "URL", "READY", "REASON"]
    assert served_by(emulator, emulator.host("kubectl-route")) == "hello-v1"
    assert served_by(emulator, emulator.host("kubectl-route", tag="candidate")) == "hello-v2"

    manifest.write_text(ROUTE.format(v1=0, v2=100))
    reapplied = kubectl("apply", "-f", str(manifest))
    assert reapplied.returncode == 0, reapplied.stderr
    assert "kubectl-route configured" in reapplied.stdout
    wait_until(lambda: served_by(emulator, emulator.host("kubectl-route")) == "hello-v2")

    patch = {"spec": {"traffic": [{"revisionName": "hello-v1", "percent": 100}]}}
    patched = kubectl("patch", "route", "kubectl-route", "--type", "merge", "-p", json.dumps(patch))
    assert patched.returncode == 0, patched.stderr

    def observed(generation: str) -> bool:
        out = kubectl(
            "get",
            "route",
            "kubectl-route",
            "-o",
            "jsonpath={.status.observedGeneration} {.status.traffic[*].revisionName}",
        )
        return out.stdout == f"{generation} hello-v1"

    wait_until(lambda: observed("3"))
    assert served_by(emulator, emulator.host("kubectl-route")) == "hello-v1"

    invalid = kubectl(
        "patch",
        "route",
        "kubectl-route",
        "--type",
        "merge",
        "-p",
        json.dumps({"spec": {"traffic": [{"revisionName": "hello-v1", "percent": 90}]}}),
    )
    assert invalid.returncode != 0
    assert "Traffic targets sum to 90, want 100" in invalid.stderr

    deleted = kubectl("delete", "route", "kubectl-route")
    assert deleted.returncode == 0, deleted.stderr
    assert "kubectl-route" not in kubectl("get", "routes", "-o", "name").stdout
    wait_until(
        lambda: (
            httpx.get(
                emulator.ingress, headers={"Host": emulator.host("kubectl-route")}, timeout=60
            ).status_code
            == 404
        )
    )


def test_services_route_refuses_kubectl_patch(kubectl: Kubectl) -> None:
    patched = kubectl(
        "patch", "route", "hello", "--type", "merge", "-p", '{"metadata":{"labels":{"x":"y"}}}'
    )
    assert patched.returncode != 0
    assert 'it is owned by Service "hello"' in patched.stderr
