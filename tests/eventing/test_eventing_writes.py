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


# ----- fieldValidation -----

MUTATION_FAILED = (
    'admission webhook "webhook.eventing.knative.dev" denied the request: mutation failed: '
    'cannot decode incoming new object: json: unknown field "{}"'
)


def test_kubectl_field_validation(kubectl: Kubectl) -> None:
    typo = BROKER.format(name="fv-b").replace("  delivery:", "  confg: {}\n  delivery:")
    # kubectl's default, --validate=strict: the API server refuses the unknown field.
    strict = kubectl("apply", "-f", "-", input=typo)
    assert strict.returncode == 1
    assert strict.stderr.strip() == (
        'Error from server (BadRequest): error when creating "STDIN": Broker in version "v1" '
        'cannot be handled as a Broker: strict decoding error: unknown field "spec.confg"'
    ), strict.stderr
    assert kubectl("get", "broker", "fv-b").returncode != 0
    # --validate=warn: dropped, with the API server's warning printed by kubectl.
    warned = kubectl("apply", "--validate=warn", "-f", "-", input=typo)
    assert warned.returncode == 0, warned.stderr
    assert 'Warning: unknown field "spec.confg"' in warned.stderr
    stored = kubectl("get", "broker", "fv-b", "-o", "json")
    assert "confg" not in json.loads(stored.stdout)["spec"]
    # --validate=false (Ignore): dropped silently; here an update.
    ignored = kubectl(
        "apply", "--validate=false", "-f", "-", input=typo.replace("retry: 2", "retry: 3")
    )
    assert ignored.returncode == 0, ignored.stderr
    assert "unknown field" not in ignored.stderr
    assert "broker.eventing.knative.dev/fv-b configured" in ignored.stdout
    # A Trigger's spec keeps unknown fields in its CRD schema: the API server lets a typo
    # through whatever the mode, and Knative Eventing's defaulting webhook refuses it.
    filterr = TRIGGER.format(name="fv-t", broker="fv-b") + "  filterr: {}\n"
    for validate in ("strict", "warn", "false"):
        refused = kubectl("apply", f"--validate={validate}", "-f", "-", input=filterr)
        assert refused.returncode == 1
        assert refused.stderr.strip() == (
            'Error from server (BadRequest): error when creating "STDIN": '
            + MUTATION_FAILED.format("filterr")
        ), refused.stderr
    # Below spec, the subscriber's schema keeps nothing unknown: the API server's rule.
    urii = TRIGGER.format(name="fv-t", broker="fv-b").replace("    uri:", "    urii: x\n    uri:")
    nested = kubectl("apply", "--dry-run=server", "-f", "-", input=urii)
    assert 'strict decoding error: unknown field "spec.subscriber.urii"' in nested.stderr
    assert kubectl("delete", "broker", "fv-b").returncode == 0


def test_client_field_validation(objects: client.CustomObjectsApi) -> None:
    args = (GROUP, VERSION, "default", "brokers")
    body = broker("fv-c", delivery={"retry": 1})
    body["spec"]["confg"] = {"name": "x"}
    body["extra"] = True
    with pytest.raises(ApiException) as strict:
        objects.create_namespaced_custom_object(*args, body, field_validation="Strict")
    assert strict.value.status == 400
    assert status_of(strict)["message"] == (
        'Broker in version "v1" cannot be handled as a Broker: strict decoding error: '
        'unknown field "extra", unknown field "spec.confg"'
    )
    # The server's default is Warn: dropped, one Warning header per field.
    made, code, headers = objects.create_namespaced_custom_object_with_http_info(*args, body)
    made = as_dict(made)
    assert code == 201
    assert "confg" not in made["spec"] and "extra" not in made
    assert headers["Warning"] == (
        '299 - "unknown field \\"extra\\"", 299 - "unknown field \\"spec.confg\\""'
    )
    # A patch: the patched object is what is checked.
    patch: dict[str, Any] = {"spec": {"delivery": {"retry": 2, "retries": 4}}}
    with pytest.raises(ApiException) as patched:
        objects.patch_namespaced_custom_object(
            *args, "fv-c", patch, field_validation="Strict", dry_run="All"
        )
    # spec.delivery keeps unknown fields in the CRD schema: the webhook's refusal.
    assert status_of(patched)["message"] == MUTATION_FAILED.format("retries")
    # Knative's webhook decodes with Go's case-insensitive field match and answers the
    # round trip through its Go type: "Retry" is stored as retry.
    patch = {"spec": {"delivery": {"retry": None, "Retry": 5}}}
    loose = as_dict(objects.patch_namespaced_custom_object(*args, "fv-c", patch, dry_run="All"))
    assert loose["spec"]["delivery"] == {"retry": 5}
    with pytest.raises(ApiException) as bad_mode:
        objects.create_namespaced_custom_object(*args, body, field_validation="Loose")
    assert status_of(bad_mode)["message"] == (
        'fieldValidation: Unsupported value: "Loose": supported values: "Ignore", "Strict", "Warn"'
    )
    objects.delete_namespaced_custom_object(*args, "fv-c")
