"""Configurations and Revisions through the emulator's admission, as kubectl sees it:
``kubectl apply --dry-run=server`` runs Knative's defaulting and validation (201 with the
defaulted object, or the webhook's 400), as on a cluster; a real create answers 405 (the
emulator runs them only through their Service) and nothing is stored."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningEmulator

KUBECTL = shutil.which("kubectl")
Run = Callable[..., subprocess.CompletedProcess[str]]
DENIED = (
    'admission webhook "validation.webhook.serving.knative.dev" denied the request: '
    "validation failed: "
)


@pytest.fixture
def kubectl(emulator: RunningEmulator, tmp_path: Path) -> Run:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed: the kubectl compatibility suite needs it")
    cache = tmp_path / "kube-cache"

    def run(*args: str, stdin: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KUBECTL, "--kubeconfig", str(emulator.kubeconfig), "--cache-dir", str(cache), *args],
            input=json.dumps(stdin),
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    return run


def _spec(**pod: Any) -> dict[str, Any]:
    return {"containers": [{"image": "registry.example/app"}], **pod}


def configuration(name: str, **pod: Any) -> dict[str, Any]:
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Configuration",
        "metadata": {"name": name},
        "spec": {"template": {"spec": _spec(**pod)}},
    }


def revision(name: str, **pod: Any) -> dict[str, Any]:
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Revision",
        "metadata": {"name": name},
        "spec": _spec(**pod),
    }


@pytest.mark.parametrize("make", [configuration, revision], ids=["configuration", "revision"])
def test_server_dry_run_admits_and_defaults(
    kubectl: Run, emulator: RunningEmulator, make: Callable[..., dict[str, Any]]
) -> None:
    kind = make("x")["kind"]
    plural = f"{kind.lower()}s"
    applied = kubectl("apply", "--dry-run=server", "-o", "json", "-f", "-", stdin=make("dr-ok"))
    assert applied.returncode == 0, applied.stderr
    answer = json.loads(applied.stdout)
    spec = answer["spec"]["template"]["spec"] if kind == "Configuration" else answer["spec"]
    # Knative's defaulting ran: the container's name, the serving defaults.
    assert spec["containers"][0]["name"] == "user-container"
    assert spec["timeoutSeconds"] == 300
    # A Configuration gets the requesting user as creator (Knative's SetUserInfo); a
    # Revision gets it from its Configuration, not from the webhook.
    creator = (answer["metadata"].get("annotations") or {}).get("serving.knative.dev/creator")
    assert creator == ("harness-local" if kind == "Configuration" else None)

    refused = kubectl(
        "apply", "--dry-run=server", "-f", "-", stdin=make("dr-bad", timeoutSeconds=6000)
    )
    assert refused.returncode == 1
    want = "expected 0 <= 6000 <= 600: " + (
        "spec.template.spec.timeoutSeconds" if kind == "Configuration" else "spec.timeoutSeconds"
    )
    assert f'Error from server (BadRequest): error when creating "STDIN": {DENIED}{want}' in (
        refused.stderr
    ), refused.stderr

    real = kubectl("apply", "-f", "-", stdin=make("dr-real"))
    assert real.returncode == 1
    assert (
        'Error from server (MethodNotAllowed): error when creating "STDIN": create is not '
        f"supported on {plural}.serving.knative.dev: the emulator runs Configurations and "
        "Revisions only through their Service"
    ) in real.stderr, real.stderr
    with emulator.api_client() as api:
        listed = api.get(f"/apis/serving.knative.dev/v1/namespaces/default/{plural}").json()
    # The fixture's emulator runs a Service "hello" (its Configuration and Revision).
    assert [o["metadata"]["name"] for o in listed["items"] if "dr-" in o["metadata"]["name"]] == []


def test_a_server_dry_run_delete_deletes_nothing(kubectl: Run, emulator: RunningEmulator) -> None:
    # kubectl sends dryRun in the DeleteOptions body, not the query: an emulator that read
    # only the query deleted the Service.
    before = kubectl("get", "ksvc", "hello", "-o", "json", stdin={})
    assert before.returncode == 0, before.stderr
    dry = kubectl("delete", "ksvc", "hello", "--dry-run=server", stdin={})
    assert dry.returncode == 0, dry.stderr
    assert "(server dry run)" in dry.stdout, dry.stdout
    after = kubectl("get", "ksvc", "hello", "-o", "json", stdin={})
    assert after.returncode == 0, after.stderr
    kept = json.loads(after.stdout)["metadata"]
    assert kept["uid"] == json.loads(before.stdout)["metadata"]["uid"]
    assert "deletionTimestamp" not in kept
