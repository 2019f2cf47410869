"""Knative Eventing's webhook denials as a cluster answers them, seen by the official
``kubernetes`` Python client against the emulator: 400 ``BadRequest`` with
``admission webhook "validation.webhook.eventing.knative.dev" denied the request:
validation failed: ...`` and no details (the serving emulator's code path); the API
server's own refusals (name, resourceVersion conflict) answer first with their codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tests.conftest import RunningEmulator

GROUP, VERSION = "eventing.knative.dev", "v1"
DENIED = (
    'admission webhook "validation.webhook.eventing.knative.dev" denied the request: '
    "validation failed: "
)


def trigger(name: str, subscriber: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Trigger",
        "metadata": {"name": name},
        "spec": {"broker": "default", "subscriber": subscriber, **spec},
    }


def broker(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Broker",
        "metadata": {"name": name},
        "spec": spec,
    }


@pytest.fixture
def objects(emulator: RunningEmulator) -> Iterator[client.CustomObjectsApi]:
    api = config.new_client_from_config(config_file=str(emulator.kubeconfig))
    try:
        yield client.CustomObjectsApi(api)
    finally:
        api.close()


def refused(exc: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    """The Status body of a refusal, after checking it is a webhook denial's shape."""
    assert (exc.value.status, exc.value.reason) == (400, "Bad Request")
    status: dict[str, Any] = json.loads(exc.value.body or "{}")
    assert (status["kind"], status["status"], status["reason"], status["code"]) == (
        "Status",
        "Failure",
        "BadRequest",
        400,
    )
    assert "details" not in status
    return status


def test_trigger_denial_on_create_patch_and_replace(objects: client.CustomObjectsApi) -> None:
    create = objects.create_namespaced_custom_object
    with pytest.raises(ApiException) as denied:
        create(GROUP, VERSION, "default", "triggers", trigger("wd-rel", {"uri": "/relative"}))
    assert refused(denied)["message"] == (
        DENIED + "invalid value: Relative URI is not allowed when Ref and "
        "[apiVersion, kind, name] is absent: spec.subscriber.uri"
    )
    with pytest.raises(ApiException) as gone:
        objects.get_namespaced_custom_object(GROUP, VERSION, "default", "triggers", "wd-rel")
    assert gone.value.status == 404
    created = create(
        GROUP, VERSION, "default", "triggers", trigger("wd-ok", {"uri": "http://127.0.0.1:9/"})
    )
    assert isinstance(created, dict)
    version = created["metadata"]["resourceVersion"]
    # spec.broker is immutable: the merge patch is denied and nothing changes.
    with pytest.raises(ApiException) as patched:
        objects.patch_namespaced_custom_object(
            GROUP, VERSION, "default", "triggers", "wd-ok", {"spec": {"broker": "other"}}
        )
    message = refused(patched)["message"]
    assert message.startswith(DENIED + "Immutable fields changed (-old +new): spec"), message
    # A replacement with an invalid delivery is denied too (the stored version is sent).
    body = trigger("wd-ok", {"uri": "http://127.0.0.1:9/"}, delivery={"retry": -1})
    body["metadata"]["resourceVersion"] = version
    with pytest.raises(ApiException) as replaced:
        objects.replace_namespaced_custom_object(
            GROUP, VERSION, "default", "triggers", "wd-ok", body
        )
    assert DENIED in refused(replaced)["message"]
    assert "spec.delivery.retry" in json.loads(replaced.value.body or "{}")["message"]
    stored = objects.get_namespaced_custom_object(GROUP, VERSION, "default", "triggers", "wd-ok")
    assert isinstance(stored, dict)
    assert stored["metadata"]["resourceVersion"] == version
    assert stored["spec"]["broker"] == "default" and "delivery" not in stored["spec"]
    # The webhook runs before storage: an invalid object under a taken name is a denial,
    # a valid one is AlreadyExists.
    with pytest.raises(ApiException) as taken_bad:
        create(GROUP, VERSION, "default", "triggers", trigger("wd-ok", {"uri": "/relative"}))
    refused(taken_bad)
    with pytest.raises(ApiException) as taken:
        create(
            GROUP, VERSION, "default", "triggers", trigger("wd-ok", {"uri": "http://127.0.0.1:9/"})
        )
    assert (taken.value.status, json.loads(taken.value.body or "{}")["reason"]) == (
        409,
        "AlreadyExists",
    )
    # A PUT without resourceVersion: custom resources allow no unconditional update; the
    # API server refuses it (422) before the webhook sees the object.
    with pytest.raises(ApiException) as unconditional:
        objects.replace_namespaced_custom_object(
            GROUP, VERSION, "default", "triggers", "wd-ok", trigger("wd-ok", {"uri": "/rel"})
        )
    assert unconditional.value.status == 422
    assert json.loads(unconditional.value.body or "{}")["message"] == (
        'triggers.eventing.knative.dev "wd-ok" is invalid: metadata.resourceVersion: '
        "Invalid value: 0x0: must be specified for an update"
    )
    objects.delete_namespaced_custom_object(GROUP, VERSION, "default", "triggers", "wd-ok")


def test_broker_denial_and_the_api_servers_name_check(
    objects: client.CustomObjectsApi,
) -> None:
    with pytest.raises(ApiException) as denied:
        objects.create_namespaced_custom_object(
            GROUP, VERSION, "default", "brokers", broker("wd-b", delivery={"backoffPolicy": "x"})
        )
    message = refused(denied)["message"]
    assert message.startswith(DENIED) and "spec.delivery.backoffPolicy" in message, message
    # A name that is no DNS-1123 subdomain: the API server's 422 Invalid, with causes,
    # before any webhook (the object is invalid for the webhook as well).
    with pytest.raises(ApiException) as named:
        objects.create_namespaced_custom_object(
            GROUP, VERSION, "default", "brokers", broker("WD_b", delivery={"backoffPolicy": "x"})
        )
    assert named.value.status == 422
    status = json.loads(named.value.body or "{}")
    assert status["reason"] == "Invalid"
    assert status["message"].startswith(
        'Broker.eventing.knative.dev "WD_b" is invalid: metadata.name: Invalid value: "WD_b": '
        "a lowercase RFC 1123 subdomain must consist of"
    ), status["message"]
    assert status["details"]["group"] == GROUP
    assert [c["field"] for c in status["details"]["causes"]] == ["metadata.name"]
