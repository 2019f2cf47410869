"""Knative's webhook denials as a cluster answers them, seen by kubectl and by the official
``kubernetes`` Python client against the emulator: 400 ``BadRequest`` with
``admission webhook "validation.webhook.serving.knative.dev" denied the request:
validation failed: ...`` and no details; the update rules (creator, BYO revision name);
the creator/lastModifier annotations from the request's (impersonated) user."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.kube.conftest import Run

DENIED = (
    'admission webhook "validation.webhook.serving.knative.dev" denied the request: '
    "validation failed: "
)
GROUP, VERSION, PLURAL = "serving.knative.dev", "v1", "services"
CREATOR = "serving.knative.dev/creator"
MODIFIER = "serving.knative.dev/lastModifier"


def ksvc(name: str, image: str = "x", revision: str | None = None, **spec: Any) -> dict[str, Any]:
    template: dict[str, Any] = {"spec": {"containers": [{"image": image}], **spec}}
    if revision:
        template["metadata"] = {"name": revision}
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"template": template},
    }


def test_kubectl_prints_a_denial_as_from_a_cluster(kubectl: Run) -> None:
    refused = kubectl("apply", "-f", "-", stdin=ksvc("wd-bad", timeoutSeconds=6000))
    assert refused.returncode == 1
    assert (
        'Error from server (BadRequest): error when creating "STDIN": '
        + DENIED
        + "expected 0 <= 6000 <= 600: spec.template.spec.timeoutSeconds"
    ) in refused.stderr, refused.stderr
    assert kubectl("get", "ksvc", "wd-bad").returncode == 1


def test_kubectl_update_rules_and_impersonated_creator(kubectl: Run) -> None:
    created = kubectl(
        "--as=oveja@knative.dev", "apply", "-f", "-", stdin=ksvc("wd-byo", "a", "wd-byo-one")
    )
    assert created.returncode == 0, created.stderr
    stored = json.loads(kubectl("get", "ksvc", "wd-byo", "-o", "json").stdout)
    annotations = stored["metadata"]["annotations"]
    assert (annotations[CREATOR], annotations[MODIFIER]) == ("oveja@knative.dev",) * 2
    # Another template under the same revision name: Knative's diff in the message.
    changed = kubectl("apply", "-f", "-", stdin=ksvc("wd-byo", "b", "wd-byo-one"))
    assert changed.returncode == 1
    assert (
        "Error from server (BadRequest): error when applying patch:" in changed.stderr
        and DENIED
        + "Saw the following changes without a name change (-old +new): spec.template.metadata.name"
        in changed.stderr
    ), changed.stderr
    assert '+: "b"' in changed.stderr
    # kubectl replace of a fresh manifest (kubectl fills in the resourceVersion) drops the
    # creator: refused, as on a cluster.
    replaced = kubectl("replace", "-f", "-", stdin=ksvc("wd-byo", "a", "wd-byo-one"))
    assert replaced.returncode == 1
    assert (
        DENIED + "annotation value is immutable: metadata.annotations." + CREATOR
    ) in replaced.stderr, replaced.stderr
    # A new name as another user: lastModifier moves, creator stays.
    moved = kubectl(
        "--as=cabra@knative.dev", "apply", "-f", "-", stdin=ksvc("wd-byo", "b", "wd-byo-two")
    )
    assert moved.returncode == 0, moved.stderr
    stored = json.loads(kubectl("get", "ksvc", "wd-byo", "-o", "json").stdout)
    annotations = stored["metadata"]["annotations"]
    assert (annotations[CREATOR], annotations[MODIFIER]) == (
        "oveja@knative.dev",
        "cabra@knative.dev",
    )
    assert kubectl("delete", "ksvc", "wd-byo").returncode == 0


def test_the_kubernetes_client_gets_400_bad_request(objects: client.CustomObjectsApi) -> None:
    with pytest.raises(ApiException) as refused:
        objects.create_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, ksvc("wd-client", containerConcurrency=-1)
        )
    assert (refused.value.status, refused.value.reason) == (400, "Bad Request")
    status = json.loads(refused.value.body or "{}")
    assert (status["kind"], status["status"], status["reason"], status["code"]) == (
        "Status",
        "Failure",
        "BadRequest",
        400,
    )
    assert status["message"] == (
        DENIED + "expected 0 <= -1 <= 1000: spec.template.spec.containerConcurrency"
    )
    assert "details" not in status
    created = objects.create_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, ksvc("wd-client")
    )
    assert isinstance(created, dict)
    assert created["metadata"]["annotations"][CREATOR] == "harness-local"
    with pytest.raises(ApiException) as patched:
        objects.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            "default",
            PLURAL,
            "wd-client",
            {"metadata": {"annotations": {CREATOR: "someone-else"}}},
        )
    assert patched.value.status == 400
    assert json.loads(patched.value.body or "{}")["message"] == (
        DENIED + "annotation value is immutable: metadata.annotations." + CREATOR
    )
    # A PUT without resourceVersion: custom resources allow no unconditional update.
    with pytest.raises(ApiException) as replaced:
        objects.replace_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, "wd-client", ksvc("wd-client")
        )
    assert replaced.value.status == 422
    assert json.loads(replaced.value.body or "{}")["message"] == (
        'services.serving.knative.dev "wd-client" is invalid: metadata.resourceVersion: '
        "Invalid value: 0x0: must be specified for an update"
    )
    objects.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "wd-client")


def test_generate_name_and_the_api_servers_own_name_check(kubectl: Run) -> None:
    manifest = ksvc("unused")
    manifest["metadata"] = {"generateName": "wd-gen-"}
    created = kubectl("create", "-f", "-", "-o", "name", stdin=manifest)
    assert created.returncode == 0, created.stderr
    name = created.stdout.strip().rpartition("/")[2]
    assert re.fullmatch(r"wd-gen-[bcdfghjklmnpqrstvwxz2456789]{5}", name), name
    assert kubectl("get", "ksvc", name).returncode == 0
    assert kubectl("delete", "ksvc", name).returncode == 0
    # The API server refuses a name that is no DNS-1123 subdomain before any webhook.
    refused = kubectl("apply", "-f", "-", stdin=ksvc("wd-bad-"))
    assert refused.returncode == 1
    assert (
        'The Service "wd-bad-" is invalid: metadata.name: Invalid value: "wd-bad-": a lowercase '
        "RFC 1123 subdomain must consist of"
    ) in refused.stderr, refused.stderr
