"""Real kubectl against the emulator: unknown fields under each field validation mode,
server-side dry run, the defaulted object a cluster stores, Knative's own refusals and
warnings, as kubectl prints them."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import RunningEmulator

KUBECTL = shutil.which("kubectl")
Run = Callable[..., subprocess.CompletedProcess[str]]

MANIFEST = """\
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: {name}
spec:
  template:
    spec:
      {extra}
      containers:
        - image: ghcr.io/knative/helloworld-go:latest
"""


@pytest.fixture
def kubectl(emulator: RunningEmulator, tmp_path: Path) -> Run:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed: the kubectl compatibility suite needs it")
    cache = tmp_path / "kube-cache"

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KUBECTL, "--kubeconfig", str(emulator.kubeconfig), "--cache-dir", str(cache), *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    return run


def manifest(name: str, extra: str = "timeoutSeconds: 30") -> str:
    return MANIFEST.format(name=name, extra=extra)


def test_strict_the_default_refuses_an_unknown_field(kubectl: Run) -> None:
    result = kubectl("apply", "-f", "-", stdin=manifest("fv-strict", "nodName: node-1"))
    assert result.returncode == 1
    assert (
        'Error from server (BadRequest): error when creating "STDIN": Service in version "v1" '
        "cannot be handled as a Service: strict decoding error: unknown field "
        '"spec.template.spec.nodName"'
    ) in result.stderr, result.stderr
    assert kubectl("get", "ksvc", "fv-strict").returncode == 1  # nothing stored


def test_warn_drops_the_field_with_a_warning(kubectl: Run) -> None:
    result = kubectl(
        "apply", "--validate=warn", "-f", "-", stdin=manifest("fv-warn", "nodName: node-1")
    )
    assert result.returncode == 0, result.stderr
    assert 'Warning: unknown field "spec.template.spec.nodName"' in result.stderr
    stored = json.loads(kubectl("get", "ksvc", "fv-warn", "-o", "json").stdout)
    assert "nodName" not in stored["spec"]["template"]["spec"]
    kubectl("delete", "ksvc", "fv-warn")


def test_ignore_drops_the_field_silently(kubectl: Run) -> None:
    result = kubectl(
        "apply", "--validate=false", "-f", "-", stdin=manifest("fv-ignore", "nodName: node-1")
    )
    assert result.returncode == 0, result.stderr
    assert "unknown field" not in result.stderr
    stored = json.loads(kubectl("get", "ksvc", "fv-ignore", "-o", "json").stdout)
    assert "nodName" not in stored["spec"]["template"]["spec"]
    kubectl("delete", "ksvc", "fv-ignore")


def test_unknown_fields_in_updates(kubectl: Run) -> None:
    assert kubectl("apply", "-f", "-", stdin=manifest("fv-update")).returncode == 0
    # kubectl apply on an existing object: a merge patch with fieldValidation=Strict.
    refused = kubectl("apply", "-f", "-", stdin=manifest("fv-update", "nodName: node-1"))
    assert refused.returncode == 1
    assert 'strict decoding error: unknown field "spec.template.spec.nodName"' in refused.stderr
    # kubectl patch sends no fieldValidation: the server's default, Warn.
    patched = kubectl(
        "patch",
        "ksvc",
        "fv-update",
        "--type=merge",
        "-p",
        '{"spec":{"template":{"spec":{"containers":[{"image":"x","imagePullPolicyy":"Always"}]}}}}',
    )
    assert patched.returncode == 0, patched.stderr
    assert (
        'Warning: unknown field "spec.template.spec.containers[0].imagePullPolicyy"'
        in patched.stderr
    )
    stored = json.loads(kubectl("get", "ksvc", "fv-update", "-o", "json").stdout)
    container = stored["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "x"
    assert "imagePullPolicyy" not in container
    kubectl("delete", "ksvc", "fv-update")


def test_server_side_dry_run_defaults_and_admits_but_stores_nothing(kubectl: Run) -> None:
    result = kubectl("apply", "--dry-run=server", "-o", "json", "-f", "-", stdin=manifest("fv-dry"))
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    pod = shown["spec"]["template"]["spec"]
    assert pod["containers"][0]["name"] == "user-container"
    assert pod["containerConcurrency"] == 0
    assert shown["spec"]["traffic"] == [{"latestRevision": True, "percent": 100}]
    assert kubectl("get", "ksvc", "fv-dry").returncode == 1
    assert kubectl("get", "revisions", "-l", "serving.knative.dev/service=fv-dry").stdout == ""
    refused = kubectl(
        "apply", "--dry-run=server", "-f", "-", stdin=manifest("fv-dry", "timeoutSeconds: 6000")
    )
    assert refused.returncode == 1
    # A webhook denial as kubectl prints a cluster's 400 BadRequest.
    assert (
        'Error from server (BadRequest): error when creating "STDIN": admission webhook '
        '"validation.webhook.serving.knative.dev" denied the request: validation failed: '
        "expected 0 <= 6000 <= 600: spec.template.spec.timeoutSeconds"
    ) in refused.stderr, refused.stderr


def test_get_shows_the_defaulted_object(kubectl: Run) -> None:
    assert kubectl("apply", "-f", "-", stdin=manifest("fv-defaults", "")).returncode == 0
    stored = json.loads(kubectl("get", "ksvc", "fv-defaults", "-o", "json").stdout)
    pod = stored["spec"]["template"]["spec"]
    assert pod["timeoutSeconds"] == 300
    assert pod["containerConcurrency"] == 0
    assert pod["enableServiceLinks"] is False
    container = pod["containers"][0]
    assert container["name"] == "user-container"
    assert container["readinessProbe"] == {"successThreshold": 1, "tcpSocket": {"port": 0}}
    assert container["resources"] == {}
    assert stored["spec"]["traffic"] == [{"latestRevision": True, "percent": 100}]
    kubectl("delete", "ksvc", "fv-defaults")


def test_knatives_refusal_and_warning_as_kubectl_prints_them(kubectl: Run) -> None:
    refused = kubectl("apply", "-f", "-", stdin=manifest("fv-refused", "nodeSelector: {a: b}"))
    assert refused.returncode == 1
    assert (
        'Error from server (BadRequest): error when creating "STDIN": admission webhook '
        '"validation.webhook.serving.knative.dev" denied the request: validation failed: '
        "must not set the field(s): spec.template.spec.nodeSelector"
    ) in refused.stderr, refused.stderr
    accepted = kubectl("apply", "-f", "-", stdin=manifest("fv-warned"))
    assert accepted.returncode == 0, accepted.stderr
    assert (
        "Warning: Kubernetes default value is insecure, Knative may default this to secure "
        "in a future release: spec.template.spec.containers[0].securityContext."
        "allowPrivilegeEscalation"
    ) in accepted.stderr, accepted.stderr
    kubectl("delete", "ksvc", "fv-warned")
