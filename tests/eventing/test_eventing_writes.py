"""Writes of Brokers and Triggers take the API server's write options, as Services do:
``dryRun=All`` (admission runs, nothing is stored or reconciled) and ``fieldValidation``
(Strict refuses unknown fields, Warn drops them with a ``Warning`` header, Ignore drops
them), seen through kubectl (``--dry-run=server``, ``--validate=...``) and the official
``kubernetes`` Python client against one emulator."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tests.conftest import RunningEmulator

GROUP, VERSION = "eventing.knative.dev", "v1"
KUBECTL = shutil.which("kubectl")
DENIED = (
    'admission webhook "validation.webhook.eventing.knative.dev" denied the request: '
    "validation failed: "
)
Kubectl = Callable[..., subprocess.CompletedProcess[str]]

BROKER = """\
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: {name}
spec:
  delivery:
    retry: 2
"""

TRIGGER = """\
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: {name}
spec:
  broker: {broker}
  subscriber:
    uri: http://127.0.0.1:9/
"""


def trigger(name: str, broker: str = "default", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Trigger",
        "metadata": {"name": name},
        "spec": {"broker": broker, "subscriber": {"uri": "http://127.0.0.1:9/"}, **spec},
    }


def broker(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Broker",
        "metadata": {"name": name},
        "spec": spec,
    }


@pytest.fixture
def kubectl(emulator: RunningEmulator, tmp_path: Path) -> Kubectl:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed: the kubectl cases need it")
    cache = tmp_path / "kube-cache"

    def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KUBECTL, "--kubeconfig", str(emulator.kubeconfig), "--cache-dir", str(cache), *args],
            input=input,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    return run


@pytest.fixture
def objects(emulator: RunningEmulator) -> Iterator[client.CustomObjectsApi]:
    api = config.new_client_from_config(config_file=str(emulator.kubeconfig))
    try:
        yield client.CustomObjectsApi(api)
    finally:
        api.close()


def as_dict(value: object) -> dict[str, Any]:
    """An answer of CustomObjectsApi (typed ``object``) as the JSON object it is."""
    assert isinstance(value, dict), value
    return value


def status_of(exc: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.value.body or "{}")
    return body


# ----- dryRun=All -----


def test_kubectl_server_dry_run_stores_nothing(kubectl: Kubectl) -> None:
    manifest = BROKER.format(name="dry-b") + "---\n" + TRIGGER.format(name="dry-t", broker="dry-b")
    dry = kubectl("apply", "--dry-run=server", "-f", "-", input=manifest)
    assert dry.returncode == 0, dry.stderr
    assert "broker.eventing.knative.dev/dry-b created (server dry run)" in dry.stdout
    assert "trigger.eventing.knative.dev/dry-t created (server dry run)" in dry.stdout
    assert (
        'brokers.eventing.knative.dev "dry-b" not found' in kubectl("get", "broker", "dry-b").stderr
    )
    assert kubectl("get", "trigger", "dry-t").returncode != 0
    # The answer is the object as it would be stored: defaulted by the webhook.
    shown = kubectl(
        "create", "--dry-run=server", "-o", "json", "-f", "-", input=BROKER.format(name="dry-b")
    )
    assert shown.returncode == 0, shown.stderr
    obj = json.loads(shown.stdout)
    assert obj["metadata"]["annotations"]["eventing.knative.dev/broker.class"] == (
        "MTChannelBasedBroker"
    )
    assert obj["spec"]["config"]["name"] == "config-br-default-channel"
    assert obj["status"] == {}
    # An update the webhook denies is denied in a dry run too; an allowed one stores nothing.
    assert kubectl("apply", "-f", "-", input=manifest).returncode == 0
    moved = kubectl(
        "apply", "--dry-run=server", "-f", "-", input=TRIGGER.format(name="dry-t", broker="other")
    )
    assert moved.returncode == 1
    assert DENIED + "Immutable fields changed (-old +new): spec.broker" in moved.stderr, (
        moved.stderr
    )
    retried = kubectl(
        "apply", "--dry-run=server", "-f", "-",
        input=BROKER.format(name="dry-b").replace("retry: 2", "retry: 7"),
    )  # fmt: skip
    assert "broker.eventing.knative.dev/dry-b configured (server dry run)" in retried.stdout
    stored = kubectl("get", "broker", "dry-b", "-o", "jsonpath={.spec.delivery.retry}")
    assert stored.stdout == "2"
    deleted = kubectl("delete", "--dry-run=server", "trigger", "dry-t")
    assert deleted.returncode == 0, deleted.stderr
    assert 'trigger.eventing.knative.dev "dry-t" deleted (server dry run)' in deleted.stdout
    assert kubectl("get", "trigger", "dry-t").returncode == 0
    assert kubectl("delete", "-f", "-", input=manifest).returncode == 0


def test_client_dry_run_create_patch_replace_delete(objects: client.CustomObjectsApi) -> None:
    args = (GROUP, VERSION, "default", "triggers")
    made = as_dict(objects.create_namespaced_custom_object(*args, trigger("dry-c"), dry_run="All"))
    assert made["spec"]["filter"] == {}
    assert made["metadata"]["labels"] == {"eventing.knative.dev/broker": "default"}
    assert made["metadata"]["uid"] and not made["metadata"].get("resourceVersion")
    assert made["status"] == {}
    with pytest.raises(ApiException) as missing:
        objects.get_namespaced_custom_object(*args, "dry-c")
    assert missing.value.status == 404
    # A webhook denial is a denial in a dry run too.
    with pytest.raises(ApiException) as denied:
        objects.create_namespaced_custom_object(*args, trigger("dry-c", broker=""), dry_run="All")
    assert status_of(denied)["message"] == DENIED + "missing field(s): spec.broker"
    # On a stored Trigger: a patch and a replacement answer what would be stored.
    stored = as_dict(objects.create_namespaced_custom_object(*args, trigger("dry-c")))
    version = stored["metadata"]["resourceVersion"]
    patch = {"spec": {"filter": {"attributes": {"type": "dry"}}}}
    patched = as_dict(objects.patch_namespaced_custom_object(*args, "dry-c", patch, dry_run="All"))
    assert patched["spec"]["filter"] == {"attributes": {"type": "dry"}}
    assert patched["metadata"]["generation"] == 2
    replacement = trigger("dry-c", delivery={"retry": 3})
    replacement["metadata"]["resourceVersion"] = version
    replaced = as_dict(
        objects.replace_namespaced_custom_object(*args, "dry-c", replacement, dry_run="All")
    )
    assert replaced["spec"]["delivery"] == {"retry": 3}
    objects.delete_namespaced_custom_object(*args, "dry-c", dry_run="All")
    now = as_dict(objects.get_namespaced_custom_object(*args, "dry-c"))
    assert now["metadata"]["resourceVersion"] == version
    assert now["spec"]["filter"] == {} and "delivery" not in now["spec"]
    assert now["status"]["conditions"]  # reconciled once, when it was really created
    # dryRun takes only "All", as the API server.
    with pytest.raises(ApiException) as bogus:
        objects.delete_namespaced_custom_object(*args, "dry-c", dry_run="Some")
    assert bogus.value.status == 400
    assert status_of(bogus)["message"] == (
        'dryRun: Unsupported value: "Some": supported values: "All"'
    )
    objects.delete_namespaced_custom_object(*args, "dry-c")
