"""Where the emulator follows the API server and Knative's reconcilers to the letter
(issue 17, item 8): deletion fields and finalizers, and revision names already taken."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import RunningEmulator
from tests.local_api.test_rest import MERGE, NS_PATH, ready, service, wait_for


def applied(api: httpx.Client, url: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """``manifest`` with the stored resourceVersion (a custom resource has no unconditional
    update) and creator/lastModifier annotations, as ``kubectl apply`` keeps them (a PUT
    without them is refused: Knative's "annotation value is immutable")."""
    stored = api.get(url).json()["metadata"]
    annotations = stored.get("annotations") or {}
    kept = {k: v for k, v in annotations.items() if k.startswith("serving.knative.dev/")}
    meta = manifest.setdefault("metadata", {})
    meta["annotations"] = {**kept, **(meta.get("annotations") or {})}
    meta["resourceVersion"] = stored["resourceVersion"]
    return manifest


@pytest.fixture(scope="module")
def api(emulator: RunningEmulator) -> Iterator[httpx.Client]:
    with emulator.api_client() as client:
        yield client


def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in obj.get("status", {}).get("conditions", [])}


def answer(emulator: RunningEmulator, name: str) -> str:
    return httpx.get(emulator.ingress, headers={"Host": emulator.host(name)}, timeout=30).text


def settled(api: httpx.Client, name: str) -> dict[str, Any] | None:
    """The Service once its status describes its generation and Ready is not Unknown."""
    obj = api.get(f"{NS_PATH}/services/{name}").json()
    ready_cond = conditions(obj).get("Ready", {})
    if obj.get("status", {}).get("observedGeneration") == obj["metadata"][
        "generation"
    ] and ready_cond.get("status") in ("True", "False"):
        return obj
    return None


def test_client_set_deletion_fields_are_not_stored(api: httpx.Client) -> None:
    body = service("deleting", "d")
    body["metadata"]["deletionTimestamp"] = "2020-01-01T00:00:00Z"
    body["metadata"]["deletionGracePeriodSeconds"] = 30
    created = api.post(f"{NS_PATH}/services", json=body)
    assert created.status_code == 201
    assert "deletionTimestamp" not in created.json()["metadata"]
    assert "deletionGracePeriodSeconds" not in created.json()["metadata"]
    wait_for(lambda: ready(api, "deleting"), timeout=60)
    patched = api.patch(
        f"{NS_PATH}/services/deleting",
        json={"metadata": {"deletionTimestamp": "2020-01-01T00:00:00Z"}},
        headers=MERGE,
    )
    assert patched.status_code == 200
    assert "deletionTimestamp" not in patched.json()["metadata"]
    assert "deletionTimestamp" not in api.get(f"{NS_PATH}/services/deleting").json()["metadata"]
    assert api.delete(f"{NS_PATH}/services/deleting").status_code == 200
    assert api.get(f"{NS_PATH}/services/deleting").status_code == 404


def test_finalizers_hold_a_delete_until_they_are_removed(api: httpx.Client) -> None:
    body = service("held", "h")
    body["metadata"]["finalizers"] = ["example.com/keep"]
    assert api.post(f"{NS_PATH}/services", json=body).status_code == 201
    wait_for(lambda: ready(api, "held"), timeout=60)
    deleted = api.delete(f"{NS_PATH}/services/held")
    assert deleted.status_code == 202  # accepted: marked, waiting for its finalizers
    marked = api.get(f"{NS_PATH}/services/held").json()
    assert "deletionTimestamp" in marked["metadata"]
    assert marked["metadata"]["finalizers"] == ["example.com/keep"]
    assert api.get(f"{NS_PATH}/revisions/held-00001").status_code == 200
    added = api.patch(
        f"{NS_PATH}/services/held",
        json={"metadata": {"finalizers": ["example.com/keep", "example.com/more"]}},
        headers=MERGE,
    )
    assert added.status_code == 422
    assert "no new finalizers can be added" in added.json()["message"]
    released = api.patch(
        f"{NS_PATH}/services/held", json={"metadata": {"finalizers": None}}, headers=MERGE
    )
    assert released.status_code == 200
    assert api.get(f"{NS_PATH}/services/held").status_code == 404
    assert api.get(f"{NS_PATH}/revisions/held-00001").status_code == 404


def test_an_old_revision_name_with_a_changed_template_fails_as_in_knative(
    api: httpx.Client, emulator: RunningEmulator
) -> None:
    url = f"{NS_PATH}/services/reuse"
    api.post(f"{NS_PATH}/services", json=service("reuse", "one", revision="reuse-one"))
    wait_for(lambda: ready(api, "reuse"), timeout=60)
    api.put(
        url, json=applied(api, url, service("reuse", "two", revision="reuse-two"))
    ).raise_for_status()
    wait_for(lambda: ready(api, "reuse"), timeout=60)
    assert "two" in answer(emulator, "reuse")
    # Back to an old name with that revision's own template: Knative takes that Revision.
    api.put(
        url, json=applied(api, url, service("reuse", "one", revision="reuse-one"))
    ).raise_for_status()
    svc = wait_for(lambda: ready(api, "reuse"), timeout=60)
    assert svc["status"]["latestCreatedRevisionName"] == "reuse-one"
    assert "one" in answer(emulator, "reuse")
    api.put(
        url, json=applied(api, url, service("reuse", "two", revision="reuse-two"))
    ).raise_for_status()
    wait_for(lambda: ready(api, "reuse"), timeout=60)
    assert "two" in answer(emulator, "reuse")
    # An old name with another template: the webhook compares with the previous template
    # only (whose name differs), so it is admitted, and the reconciler refuses it.
    back = api.put(url, json=applied(api, url, service("reuse", "three", revision="reuse-one")))
    assert back.status_code == 200
    svc = wait_for(lambda: settled(api, "reuse"), timeout=60)
    state = conditions(svc)
    assert state["Ready"]["status"] == "False"
    assert state["RoutesReady"]["reason"] == "RevisionNameTaken"
    assert state["RoutesReady"]["message"] == (
        'The revision name "reuse-one" is taken by a conflicting Revision, so traffic will '
        "not be migrated"
    )
    assert state["ConfigurationsReady"]["reason"] == "RevisionFailed"
    config = api.get(f"{NS_PATH}/configurations/reuse").json()
    assert conditions(config)["Ready"]["message"] == (
        'Revision creation failed with message: revisions.serving.knative.dev "reuse-one" '
        "already exists."
    )
    assert config["status"]["latestCreatedRevisionName"] == "reuse-two"
    assert svc["status"]["latestReadyRevisionName"] == "reuse-two"
    assert [t["revisionName"] for t in svc["status"]["traffic"]] == ["reuse-two"]
    assert "two" in answer(emulator, "reuse")  # the ingress never moved
    revision = api.get(f"{NS_PATH}/revisions/reuse-one").json()
    assert revision["spec"]["containers"][0]["env"][0]["value"] == "one"  # untouched
    # A new name is the way out (the webhook refuses another template under this one).
    assert (
        api.put(
            url, json=applied(api, url, service("reuse", "one", revision="reuse-one"))
        ).status_code
        == 400
    )
    api.put(
        url, json=applied(api, url, service("reuse", "four", revision="reuse-four"))
    ).raise_for_status()
    svc = wait_for(lambda: ready(api, "reuse"), timeout=60)
    assert svc["status"]["latestCreatedRevisionName"] == "reuse-four"
    assert "four" in answer(emulator, "reuse")
    assert api.delete(url).status_code == 200


def test_a_revision_name_of_another_configuration_fails_the_configuration(
    api: httpx.Client,
) -> None:
    api.post(f"{NS_PATH}/services", json=service("own-x", "x")).raise_for_status()
    wait_for(lambda: ready(api, "own-x"), timeout=60)
    taken = api.post(f"{NS_PATH}/services", json=service("own", "o", revision="own-x-00001"))
    assert taken.status_code == 201
    svc = wait_for(lambda: settled(api, "own"), timeout=60)
    state = conditions(svc)
    assert state["Ready"]["status"] == "False"
    assert state["RoutesReady"]["reason"] == "RevisionNameTaken"
    assert state["ConfigurationsReady"]["message"] == (
        'Revision creation failed with message: revisions.serving.knative.dev "own-x-00001" '
        "already exists."
    )
    assert "traffic" not in svc["status"]
    owner = api.get(f"{NS_PATH}/revisions/own-x-00001").json()["metadata"]["labels"]
    assert owner["serving.knative.dev/service"] == "own-x"
    for name in ("own", "own-x"):
        assert api.delete(f"{NS_PATH}/services/{name}").status_code == 200
