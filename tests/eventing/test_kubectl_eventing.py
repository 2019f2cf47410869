"""kubectl gets, applies, patches and deletes Brokers and Triggers on the emulator, with
the emulator's kubeconfig, as a user does; Knative Eventing's webhook denials print as
from a cluster (400 BadRequest)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import RunningEmulator

KUBECTL = shutil.which("kubectl")

MANIFEST = """\
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: orders
spec:
  delivery:
    retry: {retry}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: orders-to-hello
spec:
  broker: orders
  filter:
    attributes:
      type: com.example.order
  subscriber:
    ref:
      apiVersion: serving.knative.dev/v1
      kind: Service
      name: hello
"""

INVALID = """\
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: invalid
spec:
  broker: orders
  subscriber:
    uri: /relative
"""

Kubectl = Callable[..., subprocess.CompletedProcess[str]]
DENIED = (
    'admission webhook "validation.webhook.eventing.knative.dev" denied the request: '
    "validation failed: "
)


@pytest.fixture
def kubectl(emulator: RunningEmulator, tmp_path: Path) -> Kubectl:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed: the kubectl compatibility suite needs it")
    cache = tmp_path / "kube-cache"

    def run(
        *args: str, timeout: float = 120, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KUBECTL, "--kubeconfig", str(emulator.kubeconfig), "--cache-dir", str(cache), *args],
            input=input,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )

    return run


def test_get_demo_broker_and_trigger(kubectl: Kubectl) -> None:
    brokers = kubectl("get", "brokers")
    assert brokers.returncode == 0, brokers.stderr
    header, row = (line.split() for line in brokers.stdout.strip().splitlines())
    assert header == ["NAME", "URL", "READY", "REASON"]
    assert row == [
        "default",
        "http://broker-ingress.knative-eventing.svc.cluster.local/default/default",
        "True",
    ]
    triggers = kubectl("get", "triggers")
    assert triggers.returncode == 0, triggers.stderr
    lines = [line.split() for line in triggers.stdout.strip().splitlines()]
    assert lines[0] == ["NAME", "BROKER", "SUBSCRIBER_URI", "READY", "REASON"]
    assert ["hello", "default", "http://hello.default.svc.cluster.local", "True"] in lines
    one = kubectl("get", "trigger", "hello", "-o", "jsonpath={.spec.subscriber.ref.name}")
    assert one.stdout == "hello"
    grouped = kubectl("get", "brokers.eventing.knative.dev", "default", "-o", "name")
    assert grouped.stdout.strip() == "broker.eventing.knative.dev/default"


def test_apply_update_and_delete(kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = tmp_path / "orders.yaml"
    manifest.write_text(MANIFEST.format(retry=2))
    created = kubectl("apply", "-f", str(manifest))
    assert created.returncode == 0, created.stderr
    assert "broker.eventing.knative.dev/orders created" in created.stdout
    assert "trigger.eventing.knative.dev/orders-to-hello created" in created.stdout
    ready = kubectl("get", "trigger", "orders-to-hello", "-o", "jsonpath={.status.conditions}")
    assert '"type":"Ready"' in ready.stdout
    manifest.write_text(MANIFEST.format(retry=5))
    updated = kubectl("apply", "-f", str(manifest))
    assert updated.returncode == 0, updated.stderr
    assert "broker.eventing.knative.dev/orders configured" in updated.stdout
    assert "trigger.eventing.knative.dev/orders-to-hello unchanged" in updated.stdout
    retry = kubectl("get", "broker", "orders", "-o", "jsonpath={.spec.delivery.retry}")
    assert retry.stdout == "5"
    patched = kubectl(
        "patch", "trigger", "orders-to-hello", "--type=merge",
        "-p", '{"metadata":{"labels":{"team":"orders"}}}',
    )  # fmt: skip
    assert patched.returncode == 0, patched.stderr
    labelled = kubectl("get", "triggers", "-l", "team=orders", "-o", "name")
    assert labelled.stdout.strip() == "trigger.eventing.knative.dev/orders-to-hello"
    deleted = kubectl("delete", "-f", str(manifest))
    assert deleted.returncode == 0, deleted.stderr
    assert 'broker.eventing.knative.dev "orders" deleted' in deleted.stdout
    gone = kubectl("get", "broker", "orders")
    assert gone.returncode != 0
    assert 'brokers.eventing.knative.dev "orders" not found' in gone.stderr


def test_apply_invalid_trigger_shows_the_webhook_message(kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = tmp_path / "invalid.yaml"
    manifest.write_text(INVALID)
    applied = kubectl("apply", "-f", str(manifest))
    assert applied.returncode == 1
    # kube-apiserver relays the webhook's denial as 400 BadRequest; kubectl prints it as
    # from a cluster with Knative Eventing, as for Services.
    assert applied.stderr.strip() == (
        f'Error from server (BadRequest): error when creating "{manifest}": {DENIED}'
        "invalid value: Relative URI is not allowed when Ref and [apiVersion, kind, name] "
        "is absent: spec.subscriber.uri"
    ), applied.stderr
    assert kubectl("get", "trigger", "invalid").returncode != 0


def test_apply_denied_update_keeps_the_stored_trigger(kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = tmp_path / "orders.yaml"
    manifest.write_text(MANIFEST.format(retry=1))
    assert kubectl("apply", "-f", str(manifest)).returncode == 0
    # spec.broker is immutable: Knative's webhook denies the patch kubectl apply sends.
    manifest.write_text(MANIFEST.format(retry=1).replace("broker: orders", "broker: other"))
    changed = kubectl("apply", "-f", str(manifest))
    assert changed.returncode == 1
    assert (
        "Error from server (BadRequest): error when applying patch:" in changed.stderr
        and DENIED + "Immutable fields changed (-old +new): spec" in changed.stderr
    ), changed.stderr
    stored = kubectl("get", "trigger", "orders-to-hello", "-o", "jsonpath={.spec.broker}")
    assert stored.stdout == "orders"
    # The API server's own name check answers first: 422, printed as "is invalid".
    bad = kubectl("apply", "-f", "-", input=INVALID.replace("name: invalid", "name: Bad_"))
    assert bad.returncode == 1
    assert bad.stderr.startswith(
        'The Trigger "Bad_" is invalid: metadata.name: Invalid value: "Bad_": a lowercase '
        "RFC 1123 subdomain must consist of"
    ), bad.stderr
    assert kubectl("delete", "-f", str(manifest)).returncode == 0
